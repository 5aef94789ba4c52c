"""before_renewal: N days before `renews_at`, once per renewal date and number of
days, with no event at that moment; a new `renews_at` moves it."""

from datetime import timedelta

from tests.factories import book
from tests.triggers.timed import SECOND, Partition, due_id, fired_at, moment, timed_offer_id

RENEWAL = """
triggers:
  - {id: renewal, kind: before_renewal, days: [30, 60],
     offer: {kind: upsell, recommend: next_tier}}
"""


def partition(guards: str = "") -> Partition:
    return Partition(book(guards=guards, triggers=RENEWAL))


def test_the_60_day_offer_fires_when_the_clock_reaches_it_exactly_not_a_second_before() -> None:
    accounts = partition()
    assert accounts.subscribe(day=0, renews_day=100) == []
    assert accounts.advance(40 - SECOND) == []
    offers = accounts.advance(40)
    assert fired_at(offers) == [("renewal", moment(40))]
    offer = offers[0]
    assert offer.caused_by == due_id(40) == "due:2026-04-11T09:00:00Z"
    assert offer.offer_id == timed_offer_id("acme", "renewal", 40)
    assert offer.expires_at - offer.created_at == timedelta(days=7)
    assert offer.recommended.id == "pro"
    assert offer.reason.text == "your Basic plan renews on 10 June 2026, in 60 days"
    assert offer.reason.days_left == 60


def test_60_and_30_days_before_each_fire_once_per_renewal_date() -> None:
    accounts = partition()
    accounts.subscribe(day=0, renews_day=100)
    made = accounts.advance(40)
    # Events in between recompute the timers: none of them fires a point again.
    made += accounts.seats(3, day=41)
    made += accounts.subscribe(day=42, renews_day=100, addons=["reports"])
    made += accounts.send("ticket", day=43, ticket_id="T1", status="opened", severity="low")
    made += accounts.advance(70 - SECOND)
    made += accounts.advance(70)
    made += accounts.subscribe(day=80, renews_day=100)
    made += accounts.advance(400)
    assert fired_at(made) == [("renewal", moment(40)), ("renewal", moment(70))]
    assert [offer.reason.days_left for offer in made] == [60, 30]


def test_a_renewal_learned_45_days_ahead_fires_the_60_day_offer_at_once_and_later_the_30() -> None:
    accounts = partition()
    accounts.seats(1, day=0)
    offers = accounts.subscribe(day=10, renews_day=55)
    # Within 60 days already: offered with the subscription event, not both points.
    assert fired_at(offers) == [("renewal", moment(10))]
    assert offers[0].caused_by == due_id(10)
    assert offers[0].reason.days_left == 45
    assert accounts.advance(25 - SECOND) == []
    assert fired_at(accounts.advance(25)) == [("renewal", moment(25))]
    assert accounts.advance(400) == []


def test_a_renewal_learned_inside_the_last_window_fires_only_the_30_day_offer() -> None:
    accounts = partition()
    offers = accounts.subscribe(day=0, renews_day=20)
    assert [(o.trigger_id, o.reason.days_left) for o in offers] == [("renewal", 20)]
    assert accounts.advance(400) == []


def test_a_renewal_date_moved_by_a_new_subscription_event_moves_its_points() -> None:
    accounts = partition()
    accounts.subscribe(day=0, renews_day=100)
    # Renewed early for a later date, before the first point: 40 is gone, 70 and 100 are due.
    assert accounts.subscribe(day=30, renews_day=130) == []
    made = accounts.advance(40)
    assert made == []
    made += accounts.advance(400)
    assert fired_at(made) == [("renewal", moment(70)), ("renewal", moment(100))]
    assert [offer.reason.text for offer in made] == [
        "your Basic plan renews on 10 July 2026, in 60 days",
        "your Basic plan renews on 10 July 2026, in 30 days",
    ]


def test_a_renewal_moved_earlier_fires_at_its_new_point_not_the_old_one() -> None:
    accounts = partition()
    accounts.subscribe(day=0, renews_day=100)
    assert accounts.subscribe(day=10, renews_day=90) == []
    assert accounts.advance(30 - SECOND) == []
    assert fired_at(accounts.advance(40)) == [("renewal", moment(30))]


def test_each_renewal_date_gets_its_own_points() -> None:
    accounts = partition()
    accounts.subscribe(day=0, renews_day=100)
    made = accounts.advance(100)
    made += accounts.subscribe(day=100, renews_day=465)  # renewed for a year
    made += accounts.advance(800)
    assert fired_at(made) == [("renewal", moment(day)) for day in (40, 70, 405, 435)]


def test_no_offer_at_or_after_the_renewal() -> None:
    accounts = partition()
    # Learned one second before it renews: still inside the last window.
    assert fired_at(accounts.subscribe(day=10 - SECOND, renews_day=10)) == [
        ("renewal", moment(10 - SECOND))
    ]
    late = partition()
    assert late.subscribe(day=10, renews_day=10) == []
    assert late.subscribe(day=11, renews_day=10) == []
    assert late.advance(400) == []
    assert late.state().timers == {}


def test_a_subscription_without_renews_at_forgets_the_renewal() -> None:
    accounts = partition()
    accounts.subscribe(day=0, renews_day=100)
    accounts.subscribe(day=20)
    assert accounts.advance(400) == []


def test_a_plan_with_nothing_to_offer_has_no_renewal_timer_until_it_changes() -> None:
    accounts = partition()
    accounts.subscribe(day=0, plan="enterprise", renews_day=100)
    assert accounts.state().timers == {}
    assert accounts.advance(50) == []
    # Back on Basic inside the 60-day window: offered at the plan change.
    assert fired_at(accounts.subscribe(day=55, plan="basic", renews_day=100)) == [
        ("renewal", moment(55))
    ]


def test_a_cooldown_longer_than_the_gap_delays_the_30_day_offer_to_its_end() -> None:
    accounts = partition(guards="cooldown_days: 45")
    accounts.subscribe(day=0, renews_day=100)
    made = accounts.advance(400)
    # 60 days before (day 40); the 30-day point waits for the cooldown: day 85.
    assert fired_at(made) == [("renewal", moment(40)), ("renewal", moment(85))]
    assert made[1].reason.days_left == 15


def test_a_cooldown_that_outlasts_the_renewal_loses_the_30_day_offer() -> None:
    accounts = partition(guards="cooldown_days: 90")
    accounts.subscribe(day=0, renews_day=100)
    assert fired_at(accounts.advance(400)) == [("renewal", moment(40))]
