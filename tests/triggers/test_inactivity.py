"""inactivity: no usage for N days, found with no event; once per quiet spell.

Usage readings do not recompute the timers (most of the traffic): a reading
moves a running count's timer to itself + N days, which may be early (a guard
holds the offer later; the sweep then wakes it, and reschedules) but never late."""


from tests.factories import book
from tests.triggers.timed import SECOND, Partition, fired_at, moment

QUIET = """
triggers:
  - {id: quiet, kind: inactivity, days: 21, ignore_guards: [cooldown, account_cap],
     offer: {kind: down_sell, recommend: previous_tier}}
"""


def partition(guards: str = "") -> Partition:
    return Partition(book(guards=guards, triggers=QUIET))


def test_fires_n_days_after_the_last_usage_not_a_second_before() -> None:
    accounts = partition()
    accounts.subscribe(day=-1, plan="pro", signed_up_day=-10)
    accounts.seats(4, day=0)
    assert accounts.advance(21 - SECOND) == []
    offers = accounts.advance(21)
    assert fired_at(offers) == [("quiet", moment(21))]
    assert offers[0].kind == "down_sell"
    assert offers[0].recommended.id == "basic"
    assert offers[0].reason.text == "no activity in 21 days"


def test_a_reading_in_between_postpones_it() -> None:
    accounts = partition()
    accounts.subscribe(day=-1, plan="pro", signed_up_day=-10)
    accounts.seats(4, day=0)
    # The first reading started the count (day 0 + 21) ...
    assert accounts.state().timers == {"quiet": moment(21).timestamp()}
    accounts.seats(5, day=10)
    # ... and the one on day 10 moves it (no recomputation: its days from the reading).
    assert accounts.state().timers == {"quiet": moment(31).timestamp()}
    assert accounts.advance(31 - SECOND) == []
    assert fired_at(accounts.advance(31)) == [("quiet", moment(31))]


def test_a_timer_held_later_by_a_guard_is_not_moved_earlier_by_a_reading() -> None:
    accounts = partition(guards="low_score: {score_type: nps, at_most: 6, silence_days: 60}")
    accounts.subscribe(day=-1, plan="pro", signed_up_day=-10)
    accounts.seats(4, day=0)
    assert fired_at(accounts.advance(21)) == [("quiet", moment(21))]
    accounts.send("nps", day=22, score=3)  # silent until day 82
    accounts.seats(4, day=23)  # a new spell, due on day 44, held to day 82
    assert accounts.state().timers == {"quiet": moment(82).timestamp()}
    accounts.seats(4, day=30)
    assert accounts.state().timers == {"quiet": moment(82).timestamp()}
    assert accounts.advance(82 - SECOND) == []
    assert fired_at(accounts.advance(82)) == [("quiet", moment(82))]


def test_once_per_quiet_spell() -> None:
    accounts = partition()
    accounts.subscribe(day=-1, plan="pro", signed_up_day=-10)
    accounts.seats(4, day=0)
    made = accounts.advance(21)
    made += accounts.send("nps", day=40, score=8)  # not usage: the spell goes on
    made += accounts.subscribe(day=50, plan="pro", signed_up_day=-10)
    made += accounts.advance(1000)
    assert fired_at(made) == [("quiet", moment(21))]
    assert accounts.state().timers == {}


def test_usage_after_a_spell_starts_a_new_one() -> None:
    accounts = partition()
    accounts.subscribe(day=-1, plan="pro", signed_up_day=-10)
    accounts.seats(4, day=0)
    made = accounts.advance(100)
    made += accounts.seats(4, day=110)
    made += accounts.advance(1000)
    assert fired_at(made) == [("quiet", moment(21)), ("quiet", moment(131))]


def test_an_account_that_never_sent_usage_counts_from_signup() -> None:
    accounts = partition()
    accounts.subscribe(day=0, plan="pro", signed_up_day=0)
    assert fired_at(accounts.advance(100)) == [("quiet", moment(21))]


def test_a_gap_noticed_only_by_a_later_event_is_offered_at_its_own_due_time() -> None:
    accounts = partition()
    accounts.subscribe(day=-1, plan="pro", signed_up_day=-10)
    accounts.seats(4, day=0)
    # No sweep between: the next event moves the clock, and the offer says day 21.
    offers = accounts.seats(4, day=50)
    assert fired_at(offers) == [("quiet", moment(21))]


def test_a_reading_at_the_due_time_comes_after_it() -> None:
    """The clock reaches day 21 before the reading of day 21 is decided."""
    accounts = partition()
    accounts.subscribe(day=-1, plan="pro", signed_up_day=-10)
    accounts.seats(4, day=0)
    assert fired_at(accounts.seats(4, day=21)) == [("quiet", moment(21))]


def test_an_account_without_a_signup_date_counts_from_its_first_reading() -> None:
    accounts = partition()
    accounts.subscribe(day=-1, plan="pro", signed_up_day=None)
    accounts.seats(4, day=0)
    assert fired_at(accounts.advance(100)) == [("quiet", moment(21))]
