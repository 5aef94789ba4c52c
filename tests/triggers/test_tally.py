from tests.factories import Account, book
from triggers.tally import Tally


def test_tally_counts_offers_conversions_holds_and_duplicates_per_trigger() -> None:
    account = Account(book(guards="cooldown_days: 14"))
    tally = Tally()
    tally.add(account.seats(8))
    tally.add(account.send("usage", event_id="e2", metric="seats", value=8))  # a duplicate id
    tally.add(account.send("milestone", day=1, name="project_completed"))
    tally.add(account.send("milestone", day=2, name="project_completed"))  # cooldown
    tally.add(account.send("usage", day=2, metric="bandwidth", value=1))
    tally.add(account.send("subscription", day=3, plan="pro"))
    assert tally.offers == {"seats-80": 1, "done": 1}
    assert tally.conversions == {"seats-80": 1}
    assert tally.expansion_mrr == {"seats-80": 78.0}  # Pro 98 - Basic 20
    assert tally.outcomes == {("seats-80", "made"): 1, ("done", "made"): 1,
                              ("seats-80", "converted"): 1}
    assert tally.suppressed == {"cooldown": 1}
    assert tally.duplicates == 1
    assert tally.ignored == {"unknown metric 'bandwidth'": 1}
