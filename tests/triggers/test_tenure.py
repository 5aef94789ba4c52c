"""tenure: once in a window of the account's life, at the first moment in it that
no guard holds back (a guard's end is itself a due time), never after it closes."""

from tests.factories import book
from tests.triggers.timed import SECOND, Partition, fired_at, moment

TENURE = """
triggers:
  - {id: tenure, kind: tenure, from_days: 90, to_days: 180,
     offer: {kind: upsell, recommend: next_tier}}
"""

PLAN_TENURE = """
triggers:
  - {id: settled, kind: tenure, from_days: 30, to_days: 60, since: plan_change,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
"""


def partition(guards: str = "", triggers: str = TENURE) -> Partition:
    return Partition(book(guards=guards, triggers=triggers))


def test_fires_exactly_from_days_after_signup_not_a_second_before() -> None:
    accounts = partition()
    accounts.subscribe(day=0, signed_up_day=0)
    assert accounts.advance(90 - SECOND) == []
    offers = accounts.advance(90)
    assert fired_at(offers) == [("tenure", moment(90))]
    assert offers[0].reason.text == "90 days since you signed up"
    assert offers[0].reason.tenure_days == 90


def test_fires_once_in_its_window() -> None:
    accounts = partition()
    accounts.subscribe(day=0, signed_up_day=0)
    made = accounts.advance(100)
    made += accounts.seats(2, day=101)
    made += accounts.subscribe(day=102, signed_up_day=0, addons=["reports"])
    made += accounts.advance(1000)
    assert fired_at(made) == [("tenure", moment(90))]


def test_an_account_that_arrives_inside_its_window_is_offered_at_once() -> None:
    accounts = partition()
    offers = accounts.subscribe(day=0, signed_up_day=-120)
    assert fired_at(offers) == [("tenure", moment(0))]
    assert offers[0].reason.tenure_days == 120


def test_an_account_that_arrives_after_its_window_is_never_offered() -> None:
    accounts = partition()
    assert accounts.subscribe(day=0, signed_up_day=-180) == []
    assert accounts.advance(1000) == []


def test_onboarding_grace_longer_than_from_days_moves_it_to_the_end_of_the_grace() -> None:
    accounts = partition(guards="onboarding_grace_days: 120")
    accounts.subscribe(day=0, signed_up_day=0)
    assert accounts.state().timers == {"tenure": moment(120).timestamp()}
    assert accounts.advance(120 - SECOND) == []
    assert fired_at(accounts.advance(120)) == [("tenure", moment(120))]


def test_onboarding_grace_past_the_window_means_no_offer() -> None:
    accounts = partition(guards="onboarding_grace_days: 180")
    accounts.subscribe(day=0, signed_up_day=0)
    assert accounts.state().timers == {}
    assert accounts.advance(1000) == []


def test_an_open_high_ticket_holds_it_until_resolved_then_it_fires_at_the_resolution() -> None:
    accounts = partition(guards="suppress_while_ticket_open: [high, urgent]")
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.send("ticket", day=80, ticket_id="T1", status="opened", severity="high")
    assert accounts.state().timers == {}  # only an event can end it: no due time
    assert accounts.advance(150) == []
    offers = accounts.send("ticket", day=150, ticket_id="T1", status="resolved", severity="high")
    assert fired_at(offers) == [("tenure", moment(150))]
    assert offers[0].reason.tenure_days == 150


def test_a_low_ticket_does_not_hold_it() -> None:
    accounts = partition(guards="suppress_while_ticket_open: [high, urgent]")
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.send("ticket", day=80, ticket_id="T1", status="opened", severity="low")
    assert fired_at(accounts.advance(90)) == [("tenure", moment(90))]


def test_a_ticket_resolved_after_the_window_closed_brings_no_offer() -> None:
    accounts = partition(guards="suppress_while_ticket_open: [high]")
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.send("ticket", day=80, ticket_id="T1", status="opened", severity="high")
    assert accounts.send("ticket", day=180, ticket_id="T1", status="resolved", severity="high") == []
    assert accounts.advance(1000) == []


def test_a_low_nps_silence_holds_it_and_it_fires_when_the_silence_ends() -> None:
    accounts = partition(guards="low_score: {score_type: nps, at_most: 6, silence_days: 30}")
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.send("nps", day=85, score=3)
    assert accounts.advance(115 - SECOND) == []
    assert fired_at(accounts.advance(115)) == [("tenure", moment(115))]


def test_a_window_that_closes_while_a_silence_holds_it_never_fires() -> None:
    accounts = partition(guards="low_score: {score_type: nps, at_most: 6, silence_days: 90}")
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.send("nps", day=100, score=2)  # silent until day 190; the window ends at 180
    assert accounts.state().timers == {}
    assert accounts.advance(1000) == []


def test_a_silence_that_ends_exactly_as_the_window_closes_never_fires() -> None:
    accounts = partition(guards="low_score: {score_type: nps, at_most: 6, silence_days: 90}")
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.send("nps", day=90, score=2)  # silent until day 180, when the window closes
    assert accounts.advance(1000) == []


def test_since_plan_change_counts_from_when_the_current_plan_began() -> None:
    accounts = partition(triggers=PLAN_TENURE)
    accounts.subscribe(day=0, signed_up_day=-400)  # first plan: began at signup, window long past
    assert accounts.advance(5) == []
    accounts.subscribe(day=10, plan="pro", signed_up_day=-400)
    assert accounts.advance(40 - SECOND) == []
    offers = accounts.advance(40)
    assert fired_at(offers) == [("settled", moment(40))]
    assert offers[0].reason.text == "30 days on the Pro plan"


def test_since_plan_change_a_new_plan_opens_a_new_window() -> None:
    accounts = partition(triggers=PLAN_TENURE)
    accounts.subscribe(day=0, signed_up_day=0)
    made = accounts.advance(45)
    # The same plan sent again (an add-on bought) does not restart the window.
    made += accounts.subscribe(day=50, signed_up_day=0, addons=[])
    made += accounts.subscribe(day=70, plan="pro", signed_up_day=0)
    made += accounts.advance(1000)
    assert fired_at(made) == [("settled", moment(30)), ("settled", moment(100))]


def test_an_account_without_a_signup_date_has_no_tenure() -> None:
    accounts = partition()
    accounts.subscribe(day=0, signed_up_day=None)
    accounts.seats(3, day=1)
    assert accounts.advance(1000) == []
