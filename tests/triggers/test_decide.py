"""Evaluate as a whole: duplicates, ids, conversions, offers' contents, state snapshots."""

from collections.abc import Callable

import orjson
import pytest

from schemas.events import decode_event
from tests.factories import DEFAULT_TRIGGERS, Account, book, event_json, fired
from triggers import AccountState, RuleBook, evaluate
from triggers.offers import offer_id_for
from triggers.state import SEEN_CHARS, encode_state


def test_duplicate_event_id_changes_nothing() -> None:
    account = Account(book())
    first = account.send("usage", event_id="dup", metric="seats", value=8)
    snapshot = encode_state(account.state)
    again = account.send("usage", event_id="dup", metric="seats", value=8)
    assert fired(first) == ["seats-80"]
    assert again.duplicate and again.offers == ()
    assert encode_state(account.state) == snapshot


def test_offer_id_is_deterministic_for_the_same_decision() -> None:
    results = [Account(book()).seats(8).offers[0] for _ in range(2)]
    assert results[0] == results[1]
    assert results[0].offer_id == offer_id_for("acme", "seats-80", "e2")


# The id of one fixed decision (account "acme", trigger "seats-80", caused by
# event "e2"), computed once and written down. Consumers drop duplicates by
# offer id and responses name offers by it: a change of this hash would re-send
# every offer under a new id and orphan the responses to the old ones. Change it
# only on purpose, with a new offer contract version.
GOLDEN_OFFER_ID = "f50b4e36881eb212d2da52f20e4e6d29"


def test_offer_id_of_a_fixed_decision_is_pinned() -> None:
    assert offer_id_for("acme", "seats-80", "e2") == GOLDEN_OFFER_ID
    assert Account(book()).seats(8).offers[0].offer_id == GOLDEN_OFFER_ID  # caused by e2


def test_offer_carries_plan_recommendation_times_and_rules_version() -> None:
    rules = book()
    offer = Account(rules).seats(8, day=0).offers[0]
    assert offer.current_plan == "basic"
    assert offer.recommended.id == "pro"
    assert offer.recommended.price_monthly == 98
    assert "seats: 10 -> 50" in offer.recommended.changes
    assert "adds advanced analytics" in offer.recommended.changes
    assert (offer.expires_at - offer.created_at).days == 7
    assert offer.caused_by == "e2"
    assert offer.rules_version == rules.version
    assert offer.rules_version.startswith("test+")


def test_upgrade_after_an_offer_marks_it_converted() -> None:
    account = Account(book(guards="conversion_window_days: 30"))
    offer = account.seats(8).offers[0]
    result = account.send("subscription", day=3, plan="pro")
    assert [(r.offer_id, r.trigger_id) for r in result.converted] == [(offer.offer_id, "seats-80")]
    assert account.state.find_offer(offer.offer_id).status == "converted"  # type: ignore[union-attr]


def test_upgrade_past_the_window_is_not_a_conversion() -> None:
    account = Account(book(guards="conversion_window_days: 30"))
    account.seats(8)
    assert account.send("subscription", day=31, plan="pro").converted == ()


def test_upgrade_beyond_the_recommended_tier_converts_the_upsell() -> None:
    account = Account(book())
    offer = account.seats(8).offers[0]
    result = account.send("subscription", day=1, plan="enterprise")
    assert [r.offer_id for r in result.converted] == [offer.offer_id]


def test_buying_the_add_on_converts_the_cross_sell() -> None:
    account = Account(book())
    offer = account.send("milestone", name="project_completed").offers[0]
    result = account.send("subscription", day=1, plan="basic", addons=["reports"])
    assert [r.offer_id for r in result.converted] == [offer.offer_id]


def test_offer_status_follows_responses() -> None:
    account = Account(book())
    offer = account.seats(8).offers[0]
    account.send("offer_response", day=0.1, offer_id=offer.offer_id, response="shown")
    assert account.state.find_offer(offer.offer_id).status == "shown"  # type: ignore[union-attr]
    account.send("offer_response", day=0.2, offer_id=offer.offer_id, response="accepted")
    account.send("offer_response", day=0.3, offer_id=offer.offer_id, response="shown")
    assert account.state.find_offer(offer.offer_id).status == "accepted"  # type: ignore[union-attr]


def test_late_subscription_event_does_not_undo_a_newer_plan() -> None:
    account = Account(book(), plan=None)
    account.send("subscription", day=5, plan="pro")
    account.send("subscription", day=2, plan="basic")
    assert account.state.plan == "pro"


def test_state_snapshot_round_trips_through_json() -> None:
    account = Account(book(guards="suppress_while_ticket_open: [high]\n"
                                  "silence_after_response: {declined: 30}"))
    offer = account.seats(8).offers[0]
    account.send("offer_response", day=1, offer_id=offer.offer_id, response="declined")
    account.send("ticket", day=1, ticket_id="T", status="opened", severity="high")
    account.send("usage", day=2, metric="api_calls", delta=5)
    data = orjson.loads(encode_state(account.state))
    restored = AccountState.from_dict(data)
    assert restored == account.state
    # The restored state behaves the same: it still knows the event ids it saw.
    raw = event_json("usage", "acme", 0, "e2", metric="seats", value=8)
    assert evaluate(restored, decode_event(raw), account.book).duplicate


def test_dedupe_memory_is_bounded() -> None:
    account = Account(book())
    for n in range(200):
        account.send("usage", day=n / 100, metric="seats", value=1)
    assert len(account.state.seen) == SEEN_CHARS


def test_late_subscription_event_does_not_move_the_signup_date() -> None:
    account = Account(book(), plan=None)
    account.send("subscription", day=5, plan="pro", started_at="2026-01-01T00:00:00Z")
    account.send("subscription", day=2, plan="basic", started_at="2025-01-01T00:00:00Z")
    assert account.state.signed_up_at == 1767225600.0  # 2026-01-01


# Decide, then apply: a bug that raises in the middle of a decision must leave the
# account as it was, so the dead-lettered event can be redriven and count once.

class CoreBug(RuntimeError):
    """Stands in for any bug the core may have."""


def _raise(*args: object, **kwargs: object) -> bool:
    raise CoreBug("a bug in the core")


def _raise_always() -> Callable[..., bool]:
    return _raise


def _raise_on_second_call() -> Callable[..., bool]:
    calls = []

    def holds_back(*args: object, **kwargs: object) -> bool:
        calls.append(args)
        if len(calls) > 1:
            raise CoreBug("a bug in the core, after an offer was chosen")
        return False

    return holds_back


TWO_MILESTONES = """
triggers:
  - {id: first, kind: milestone, name: win, priority: 9,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
  - {id: second, kind: milestone, name: win, priority: 1,
     offer: {kind: upsell, recommend: next_tier}}
"""

FAILURES = {
    # a guard raises on a gauge reading that fires: the gauge is not moved
    "guard on a gauge reading": (
        "cooldown_days: 14", DEFAULT_TRIGGERS, "triggers.guards.Cooldown.holds_back", _raise_always,
        "usage", {"metric": "seats", "value": 10},
    ),
    # building the offer raises on a counter delta that fires: the counter is not added to
    "offer building on a counter delta": (
        "", DEFAULT_TRIGGERS, "triggers.offers.offer_id_for", _raise_always,
        "usage", {"metric": "api_calls", "delta": 900},
    ),
    # the second trigger raises after the first one's offer was chosen: no offer is remembered
    "second trigger after a chosen offer": (
        "account_cap: {max_offers: 2, per_days: 7}", TWO_MILESTONES,
        "triggers.guards.AccountCap.holds_back", _raise_on_second_call,
        "milestone", {"name": "win"},
    ),
    # a low score that also fires a score trigger: the silence it starts is not kept
    "guard on a low score": (
        "low_score: {score_type: nps, at_most: 9, silence_days: 30}", DEFAULT_TRIGGERS,
        "triggers.guards.LowScore.holds_back", _raise_always,
        "nps", {"score": 9},
    ),
    # an upgrade raises while it is matched to the offers it converts: the plan stays
    "conversion of a plan change": (
        "", DEFAULT_TRIGGERS, "triggers.lifecycle._takes_plan", _raise_always,
        "subscription", {"plan": "pro"},
    ),
}


@pytest.mark.parametrize("case", FAILURES)
def test_an_exception_in_the_core_leaves_the_state_untouched_and_the_redrive_counts(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    guards, triggers, target, bug, type_, fields = FAILURES[case]
    rules = book(guards=guards, triggers=triggers)
    account, twin = Account(rules), Account(rules)
    for each in (account, twin):  # an offer, so that a plan change has something to convert
        each.send("usage", day=0, event_id="before", metric="seats", value=8)
    before = encode_state(account.state)

    monkeypatch.setattr(target, bug())
    with pytest.raises(CoreBug):
        account.send(type_, day=1, event_id="failing", **fields)
    assert encode_state(account.state) == before

    monkeypatch.undo()  # the bug is fixed; the dead letter is redriven
    redriven = account.send(type_, day=1, event_id="failing", **fields)
    expected = twin.send(type_, day=1, event_id="failing", **fields)
    assert not redriven.duplicate
    assert redriven == expected
    assert encode_state(account.state) == encode_state(twin.state)


TENURE_FOR_TEAMS = """
triggers:
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}}
  - {id: tenure, kind: tenure, from_days: 30, to_days: 60, when: {metric: seats, at_least: 3},
     offer: {kind: upsell, recommend: next_tier}}
  - {id: quiet, kind: inactivity, days: 21, offer: {kind: cross_sell, recommend: "addon:reports"}}
"""


def test_a_reading_recomputes_due_times_only_when_it_changes_a_timed_segment_or_starts_a_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import triggers.decide

    refreshed: list[str] = []
    real = triggers.decide.refresh_timers

    def counting(state: AccountState, rules: RuleBook) -> None:
        refreshed.append(state.account_id)
        real(state, rules)

    monkeypatch.setattr(triggers.decide, "refresh_timers", counting)
    account = Account(book(triggers=TENURE_FOR_TEAMS), signed_up_day=-10)
    refreshed.clear()
    account.seats(1, day=1)  # the first reading starts the quiet count
    assert len(refreshed) == 1
    account.seats(2, day=2)  # moves no due time: the segment still does not hold
    account.send("usage", day=2, metric="api_calls", delta=5)
    assert len(refreshed) == 1
    account.seats(3, day=3)  # the tenure's segment now holds
    assert len(refreshed) == 2 and "tenure" in account.state.timers
    account.seats(4, day=4)
    assert len(refreshed) == 2


def test_due_times_that_cannot_be_computed_leave_the_event_applied_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import triggers.decide

    def broken(state: AccountState, rules: RuleBook) -> None:
        raise ZeroDivisionError

    account = Account(book(triggers=TENURE_FOR_TEAMS), signed_up_day=-10)
    monkeypatch.setattr(triggers.decide, "refresh_timers", broken)
    result = account.send("milestone", day=1, event_id="m-1", name="anything")
    assert result.timer_error == "ZeroDivisionError"
    assert account.state.timers == {}
    assert account.send("milestone", day=1, event_id="m-1", name="anything").duplicate
