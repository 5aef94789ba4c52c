"""Every guard: it holds an offer back while it should, and lets it go after."""

from tests.factories import Account, book, fired, held


def test_onboarding_grace_holds_back_then_the_pending_crossing_fires() -> None:
    rules = book(guards="onboarding_grace_days: 14")
    account = Account(rules, signed_up_day=-3)
    assert held(account.seats(8)) == [("seats-80", "onboarding_grace")]
    assert held(account.seats(8, day=10.9)) == [("seats-80", "onboarding_grace")]
    # Day 11 is 14 days after signup: the grace is over and the crossing is still pending.
    assert fired(account.seats(8, day=11)) == ["seats-80"]


def test_onboarding_grace_does_not_apply_to_old_accounts() -> None:
    account = Account(book(guards="onboarding_grace_days: 14"), signed_up_day=-15)
    assert fired(account.seats(8)) == ["seats-80"]


def test_account_cap_allows_one_offer_per_window_across_triggers() -> None:
    account = Account(book(guards="account_cap: {max_offers: 1, per_days: 7}"))
    assert fired(account.seats(8)) == ["seats-80"]
    assert held(account.send("milestone", day=6.9, name="project_completed")) == [
        ("done", "account_cap")
    ]
    assert fired(account.send("milestone", day=7, name="project_completed")) == ["done"]


def test_account_cap_picks_the_highest_priority_when_several_fire_at_once() -> None:
    rules = book(
        guards="account_cap: {max_offers: 1, per_days: 7}",
        triggers="""
triggers:
  - {id: low, kind: milestone, name: win, priority: 1,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: high, kind: milestone, name: win, priority: 9,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
""",
    )
    result = Account(rules).send("milestone", name="win")
    assert fired(result) == ["high"]
    assert held(result) == [("low", "account_cap")]


def test_account_cap_of_two_lets_two_different_offers_through() -> None:
    rules = book(guards="account_cap: {max_offers: 2, per_days: 7}", triggers="""
triggers:
  - {id: a, kind: milestone, name: win, offer: {kind: upsell, recommend: next_tier}}
  - {id: b, kind: milestone, name: win, offer: {kind: cross_sell, recommend: "addon:reports"}}
  - {id: c, kind: milestone, name: win, offer: {kind: upsell, recommend: "plan:enterprise"}}
""")
    result = Account(rules).send("milestone", name="win")
    assert sorted(fired(result)) == ["a", "b"]
    assert held(result) == [("c", "account_cap")]


def test_cooldown_silences_the_same_trigger_until_it_ends() -> None:
    account = Account(book(guards="cooldown_days: 14"))
    assert fired(account.send("milestone", day=0, name="project_completed")) == ["done"]
    assert held(account.send("milestone", day=13.9, name="project_completed")) == [
        ("done", "cooldown")
    ]
    assert fired(account.send("milestone", day=14, name="project_completed")) == ["done"]


def test_cooldown_of_one_trigger_does_not_silence_another() -> None:
    account = Account(book(guards="cooldown_days: 14"))
    account.send("milestone", name="project_completed")
    assert fired(account.seats(8, day=1)) == ["seats-80"]


def test_trigger_can_override_the_default_cooldown() -> None:
    rules = book(guards="cooldown_days: 14", triggers="""
triggers:
  - {id: done, kind: milestone, name: win, cooldown_days: 2,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
""")
    account = Account(rules)
    assert fired(account.send("milestone", day=0, name="win")) == ["done"]
    assert fired(account.send("milestone", day=2, name="win")) == ["done"]


def test_severe_open_ticket_holds_offers_back_until_resolved() -> None:
    account = Account(book(guards="suppress_while_ticket_open: [high, urgent]"))
    account.send("ticket", day=0, ticket_id="T1", status="opened", severity="urgent")
    assert held(account.seats(8, day=1)) == [("seats-80", "open_ticket")]
    account.send("ticket", day=2, ticket_id="T1", status="resolved", severity="urgent")
    assert fired(account.seats(8, day=3)) == ["seats-80"]


def test_minor_open_ticket_does_not_hold_offers_back() -> None:
    account = Account(book(guards="suppress_while_ticket_open: [high, urgent]"))
    account.send("ticket", ticket_id="T1", status="opened", severity="low")
    assert fired(account.seats(8, day=1)) == ["seats-80"]


def test_late_ticket_opening_does_not_reopen_a_resolved_ticket() -> None:
    account = Account(book(guards="suppress_while_ticket_open: [high]"))
    account.send("ticket", day=2, ticket_id="T1", status="resolved", severity="high")
    account.send("ticket", day=1, ticket_id="T1", status="opened", severity="high")
    assert fired(account.seats(8, day=3)) == ["seats-80"]


def test_low_score_silences_offers_for_the_period() -> None:
    account = Account(book(guards="low_score: {score_type: nps, at_most: 6, silence_days: 30}"))
    account.send("nps", day=0, score=6)
    assert held(account.seats(8, day=29.9)) == [("seats-80", "low_score")]
    assert fired(account.seats(8, day=30)) == ["seats-80"]


def test_score_just_above_the_low_mark_does_not_silence() -> None:
    account = Account(book(guards="low_score: {score_type: nps, at_most: 6, silence_days: 30}"))
    account.send("nps", day=0, score=7)
    assert fired(account.seats(8, day=1)) == ["seats-80"]


def test_declined_offer_silences_its_recommendation_for_a_while() -> None:
    account = Account(book(guards="silence_after_response: {declined: 30, dismissed: 7}"))
    offer = account.seats(8).offers[0]
    account.send("offer_response", day=1, offer_id=offer.offer_id, response="declined")
    account.seats(5, day=2)
    # seats-80 and the milestone's add-on differ: only the declined product is silenced.
    assert held(account.seats(8, day=3)) == [("seats-80", "response_silence")]
    assert fired(account.send("milestone", day=3, name="project_completed")) == ["done"]
    assert fired(account.seats(9, day=31)) == ["seats-80"]


def test_dismissed_offer_silences_for_its_own_period() -> None:
    account = Account(book(guards="silence_after_response: {declined: 30, dismissed: 7}"))
    offer = account.send("milestone", name="project_completed").offers[0]
    account.send("offer_response", day=0.5, offer_id=offer.offer_id, response="dismissed")
    assert held(account.send("milestone", day=7, name="project_completed")) == [
        ("done", "response_silence")
    ]
    assert fired(account.send("milestone", day=7.5, name="project_completed")) == ["done"]


def test_response_to_an_unknown_offer_changes_no_offer() -> None:
    account = Account(book(guards="silence_after_response: {declined: 30}"))
    account.send("offer_response", offer_id="not-ours", response="declined")
    assert fired(account.seats(8, day=1)) == ["seats-80"]


def test_ignored_guards_do_not_hold_that_trigger_back() -> None:
    rules = book(
        guards="account_cap: {max_offers: 1, per_days: 7}\nonboarding_grace_days: 30",
        triggers="""
triggers:
  - {id: leaving, kind: churn_signal, name: cancellation_started,
     ignore_guards: [account_cap, onboarding_grace],
     offer: {kind: down_sell, recommend: previous_tier}}
  - {id: done, kind: milestone, name: project_completed,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
""",
    )
    account = Account(rules, plan="pro", signed_up_day=-60)
    assert fired(account.send("milestone", day=0, name="project_completed")) == ["done"]
    result = account.send("churn_signal", day=1, name="cancellation_started")
    assert fired(result) == ["leaving"]
    young = Account(rules, plan="pro", signed_up_day=-1, account_id="young")
    assert fired(young.send("churn_signal", name="cancellation_started")) == ["leaving"]
    assert held(young.send("milestone", name="project_completed")) == [
        ("done", "onboarding_grace")
    ]


def test_after_a_down_sell_no_upsell_or_cross_sell_until_the_days_pass() -> None:
    account = Account(book(guards="after_down_sell_days: 30"), plan="pro")
    assert fired(account.send("churn_signal", name="cancellation_started")) == ["leaving"]
    assert held(account.seats(41, day=29.9)) == [("seats-80", "after_down_sell")]
    assert held(account.send("milestone", day=10, name="project_completed")) == [
        ("done", "after_down_sell")
    ]
    assert fired(account.seats(41, day=30)) == ["seats-80"]


def test_a_down_sell_is_not_held_back_by_an_earlier_down_sell() -> None:
    account = Account(book(guards="after_down_sell_days: 30"), plan="pro")
    assert fired(account.send("churn_signal", name="cancellation_started")) == ["leaving"]
    assert fired(account.send("churn_signal", day=1, name="cancellation_started")) == ["leaving"]
