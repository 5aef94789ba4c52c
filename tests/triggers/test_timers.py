"""Timers: several timed triggers of one account, due together or one after the
other; the guards between them; and what a timed offer says about when it was made."""

from tests.factories import book
from tests.triggers.timed import (
    SECOND,
    Partition,
    due_id,
    fired_at,
    moment,
    offers_of,
    timed_offer_id,
)

# Both due 40 days after T0 for an account signed up at day -50 that renews at day 100.
TOGETHER = """
triggers:
  - {id: renewal, kind: before_renewal, days: [60], priority: 1,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: tenure, kind: tenure, from_days: 90, to_days: 120, priority: 9,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
"""

CAP = "account_cap: {max_offers: 1, per_days: 7}"


def partition(guards: str = "", triggers: str = TOGETHER) -> Partition:
    return Partition(book(guards=guards, triggers=triggers))


def test_two_timed_triggers_due_together_both_fire_without_a_cap() -> None:
    accounts = partition()
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    offers = accounts.advance(40)
    assert sorted(fired_at(offers)) == [("renewal", moment(40)), ("tenure", moment(40))]


def test_under_a_cap_the_higher_priority_fires_and_the_other_is_delayed_not_lost() -> None:
    accounts = partition(guards=CAP)
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    results = accounts.table.advance(moment(40).timestamp())
    assert fired_at(offers_of(results)) == [("tenure", moment(40))]
    assert [(s.trigger_id, s.guard) for r in results for s in r.suppressed] == [
        ("renewal", "account_cap")
    ]
    assert accounts.advance(47 - SECOND) == []
    offers = accounts.advance(47)
    # Held back, not used up: it fires when the cap frees up, and says so in its numbers.
    assert fired_at(offers) == [("renewal", moment(47))]
    assert offers[0].reason.days_left == 53
    assert accounts.advance(1000) == []


def test_a_delayed_trigger_fires_in_the_same_wake_when_the_clock_is_already_past_the_cap() -> None:
    accounts = partition(guards=CAP)
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    assert fired_at(accounts.advance(1000)) == [("tenure", moment(40)), ("renewal", moment(47))]


def test_a_tenure_window_that_closes_while_the_cap_holds_it_never_fires() -> None:
    accounts = partition(guards=CAP, triggers="""
triggers:
  - {id: renewal, kind: before_renewal, days: [60], priority: 9,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: tenure, kind: tenure, from_days: 90, to_days: 95, priority: 1,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
""")
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    assert fired_at(accounts.advance(1000)) == [("renewal", moment(40))]


def test_an_event_offer_holds_a_timed_one_back_under_the_cap() -> None:
    accounts = partition(guards=CAP, triggers=TOGETHER + """
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}, priority: 50}
""")
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    assert fired_at(accounts.seats(8, day=38)) == [("seats-80", moment(38))]
    # Day 40: both timed ones wait for the cap, which frees up on day 45.
    made = accounts.advance(45 - SECOND)
    assert made == []
    made += accounts.advance(1000)
    assert fired_at(made) == [("tenure", moment(45)), ("renewal", moment(52))]


def test_two_timed_triggers_for_the_same_product_due_together_make_one_offer() -> None:
    accounts = partition(triggers="""
triggers:
  - {id: renewal, kind: before_renewal, days: [60], priority: 9,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: tenure, kind: tenure, from_days: 90, to_days: 180, priority: 1,
     offer: {kind: upsell, recommend: next_tier}}
""")
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    results = accounts.table.advance(moment(1000).timestamp())
    # One event (here: one moment), one offer per product, as for usage levels; the
    # other trigger's window is used up, not delayed into a second offer for Pro.
    assert fired_at(offers_of(results)) == [("renewal", moment(40))]
    assert [(s.trigger_id, s.guard) for r in results for s in r.suppressed] == [
        ("tenure", "superseded")
    ]


def test_a_long_wake_fires_each_timer_at_its_own_due_time_in_time_order() -> None:
    accounts = partition(triggers="""
triggers:
  - {id: renewal, kind: before_renewal, days: [60, 30],
     offer: {kind: upsell, recommend: next_tier}}
  - {id: tenure, kind: tenure, from_days: 90, to_days: 180,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
  - {id: quiet, kind: inactivity, days: 21,
     offer: {kind: upsell, recommend: "plan:enterprise"}}
""")
    accounts.seats(1, day=-1)
    assert accounts.subscribe(day=0, signed_up_day=-80, renews_day=100) == []
    offers = accounts.advance(1000)
    assert fired_at(offers) == [
        ("tenure", moment(10)), ("quiet", moment(20)), ("renewal", moment(40)),
        ("renewal", moment(70)),
    ]
    assert [offer.caused_by for offer in offers] == [due_id(d) for d in (10, 20, 40, 70)]


def test_a_cooldown_between_timed_offers_counts_from_each_offer_s_due_time() -> None:
    accounts = partition(guards="cooldown_days: 31", triggers="""
triggers:
  - {id: renewal, kind: before_renewal, days: [60, 30],
     offer: {kind: upsell, recommend: next_tier}}
""")
    accounts.subscribe(day=0, renews_day=100)
    # One long wake: the first offer's time (day 40), not the sweep's, starts the cooldown.
    assert fired_at(accounts.advance(1000)) == [("renewal", moment(40)), ("renewal", moment(71))]


def test_timed_offers_say_when_and_why_and_their_ids_do_not_depend_on_the_sweep() -> None:
    def run(*sweeps: float) -> list[tuple[str, str, str]]:
        accounts = partition()
        accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
        offers = [o for day in sweeps for o in accounts.advance(day)]
        return sorted((o.trigger_id, o.offer_id, o.caused_by) for o in offers)

    once = run(40)
    assert once == run(1, 39.5, 40, 41) == run(300)
    assert once == sorted(
        (trigger, timed_offer_id("acme", trigger, 40), due_id(40)) for trigger in ("renewal", "tenure")
    )


def test_a_timed_offer_is_created_at_its_due_time_and_expires_from_it() -> None:
    accounts = partition()
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    offers = accounts.advance(75.5)  # a sweep long after
    assert {o.created_at for o in offers} == {moment(40)}
    assert {o.expires_at for o in offers} == {moment(47)}
    assert all(o.rules_version == accounts.book.version for o in offers)
    assert all(o.current_plan == "basic" for o in offers)


def test_an_upgrade_converts_a_timed_offer() -> None:
    accounts = partition()
    accounts.subscribe(day=0, signed_up_day=-50, renews_day=100)
    offers = {o.trigger_id: o for o in accounts.advance(40)}
    results = accounts.results("subscription", day=45, plan="pro",
                               started_at=moment(-50).isoformat(),
                               renews_at=moment(100).isoformat())
    converted = [record.offer_id for result in results for record in result.converted]
    assert converted == [offers["renewal"].offer_id]


def test_a_declined_timed_offer_silences_the_next_point_until_the_silence_ends() -> None:
    accounts = partition(guards="silence_after_response: {declined: 40}", triggers="""
triggers:
  - {id: renewal, kind: before_renewal, days: [60, 30],
     offer: {kind: upsell, recommend: next_tier}}
""")
    accounts.subscribe(day=0, renews_day=100)
    offer = accounts.advance(40)[0]
    accounts.send("offer_response", day=41, offer_id=offer.offer_id, response="declined")
    # Silent until day 81, past the 30-day point (day 70): it comes at 81.
    assert accounts.advance(81 - SECOND) == []
    assert fired_at(accounts.advance(81)) == [("renewal", moment(81))]


def test_no_timers_for_an_account_with_nothing_to_offer() -> None:
    accounts = partition()
    accounts.subscribe(day=0, plan="enterprise", signed_up_day=-50, renews_day=100)
    assert accounts.state().timers == {}
    assert accounts.advance(1000) == []


def test_a_later_wake_never_makes_an_offer_dated_before_the_moments_already_decided() -> None:
    """Found by the cost work: a wake searched due times from the account's last
    event, and the cap forgets offers a week older than its latest, so a wake on
    day 21 (a quiet spell) made a tenure offer dated day 0, beside the other offer
    of day 0, under a cap of one a week. A wake now decides the account up to its
    time, and the next search starts there."""
    from tests.triggers.test_replay_properties import BOOK

    accounts = Partition(BOOK)
    made = accounts.subscribe("globex", day=0, signed_up_day=-23)
    for day in range(1, 40):
        made += accounts.advance(day)
    dates = [offer.created_at for offer in made]
    assert dates == sorted(dates)
    assert [trigger for trigger, _ in fired_at(made)] == ["prop-tenure", "quiet-21-days"]
