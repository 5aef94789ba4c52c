"""The offer lifecycle: outcomes, the credit rule, withdrawal, post-upsell churn,
expiry, and the holdout (triggers/lifecycle.py, triggers/choose.py)."""

from __future__ import annotations

import subprocess
import sys

from schemas.outcomes import Outcome
from schemas.rules_file import parse_rules
from tests.factories import CATALOGUE, DEFAULT_TRIGGERS, Account, book
from triggers import Evaluation, RuleBook
from triggers.lifecycle import UNKNOWN_OFFER


def statuses(result: Evaluation) -> list[tuple[str | None, str]]:
    return [(outcome.trigger_id, outcome.status) for outcome in result.outcomes]


def only(result: Evaluation, status: str) -> Outcome:
    [outcome] = [o for o in result.outcomes if o.status == status]
    return outcome


def book_with(extra: str, triggers: str = DEFAULT_TRIGGERS) -> RuleBook:
    return RuleBook.compile(parse_rules(CATALOGUE + triggers + extra, "test-rules.yaml"))


def test_an_offer_made_is_an_outcome_with_its_terms() -> None:
    account = Account(book())
    result = account.seats(8)
    [offer] = result.offers
    made = only(result, "made")
    assert (made.offer_id, made.trigger_id, made.kind, made.recommended, made.group) == (
        offer.offer_id, "seats-80", "upsell", "plan:pro", "offered")
    assert (made.at, made.expires_at, made.caused_by) == (
        offer.created_at, offer.expires_at, offer.caused_by)
    assert made.rules_version == account.book.version


def test_responses_move_the_offer_along_once_each() -> None:
    account = Account(book())
    offer = account.seats(8).offers[0]
    respond = lambda response, day: account.send(  # noqa: E731
        "offer_response", day=day, offer_id=offer.offer_id, response=response)
    assert statuses(respond("shown", 0.1)) == [("seats-80", "shown")]
    assert statuses(respond("shown", 0.2)) == []  # shown twice: one outcome
    assert statuses(respond("declined", 0.3)) == [("seats-80", "declined")]
    assert statuses(respond("accepted", 0.4)) == []  # the first answer stands
    assert account.state.find_offer(offer.offer_id).status == "declined"  # type: ignore[union-attr]


def test_a_response_to_an_unknown_offer_is_reported_not_dropped() -> None:
    account = Account(book())
    result = account.send("offer_response", offer_id="nope", response="accepted")
    assert result.ignored == UNKNOWN_OFFER
    unknown = only(result, "unknown_offer")
    assert (unknown.offer_id, unknown.account_id, unknown.trigger_id) == ("nope", "acme", None)


def test_an_upgrade_credits_the_latest_shown_offer_and_withdraws_the_others() -> None:
    account = Account(book())
    first = account.seats(8, day=0).offers[0]  # seats-80 -> pro
    second = account.send("usage", day=1, metric="api_calls", delta=900).offers[0]  # calls-80
    third = account.send("nps", day=2, score=10).offers[0]  # promoter, latest made
    account.send("offer_response", day=3, offer_id=second.offer_id, response="shown")
    result = account.send("subscription", day=4, plan="pro")
    assert [r.offer_id for r in result.converted] == [second.offer_id]
    converted = only(result, "converted")
    assert (converted.offer_id, converted.expansion_mrr) == (second.offer_id, 78.0)
    assert (converted.plan_before, converted.plan_after) == ("basic", "pro")
    withdrawn = {o.offer_id for o in result.outcomes if o.status == "withdrawn"}
    assert withdrawn == {first.offer_id, third.offer_id}


def test_with_none_shown_the_latest_made_is_credited() -> None:
    account = Account(book())
    account.seats(8, day=0)
    latest = account.send("nps", day=2, score=10).offers[0]
    result = account.send("subscription", day=4, plan="pro")
    assert only(result, "converted").offer_id == latest.offer_id


def test_a_declined_offer_is_still_credited_with_the_upgrade_that_follows() -> None:
    """Intent to treat: the control group's upgrades count whatever they would have
    answered, so the offered group's count whatever they did answer."""
    account = Account(book())
    offer = account.seats(8).offers[0]
    account.send("offer_response", day=0.5, offer_id=offer.offer_id, response="declined")
    assert only(account.send("subscription", day=1, plan="pro"), "converted").offer_id == \
        offer.offer_id


def test_a_late_shown_neither_reopens_an_expired_offer_nor_expires_it_twice() -> None:
    account = Account(book())
    offer = account.seats(8).offers[0]  # valid 7 days
    assert statuses(account.seats(8, day=60)) == [("seats-80", "expired")]
    late = account.send("offer_response", day=61, offer_id=offer.offer_id, response="shown")
    assert statuses(late) == []
    assert account.state.find_offer(offer.offer_id).status == "expired"  # type: ignore[union-attr]
    # A late answer still counts (the customer clicked an old message).
    assert statuses(account.send("offer_response", day=62, offer_id=offer.offer_id,
                                 response="accepted")) == [("seats-80", "accepted")]


def test_an_offer_that_ran_out_is_expired_first_whether_or_not_an_event_came_between() -> None:
    """The outcomes of a plan change long after an offer's expiry do not depend on
    whether some other event touched the account in between."""
    quiet, busy = Account(book(guards="conversion_window_days: 90")), Account(
        book(guards="conversion_window_days: 90"))
    for account in (quiet, busy):
        account.seats(8)  # expires on day 7
    between = busy.seats(8, day=30)
    assert statuses(between) == [("seats-80", "expired")]
    quiet_change = quiet.send("subscription", day=60, plan="pro")
    busy_change = busy.send("subscription", day=60, plan="pro")
    assert statuses(quiet_change) == [("seats-80", "expired"), ("seats-80", "converted")]
    assert statuses(busy_change) == [("seats-80", "converted")]
    assert [o.outcome_id for o in quiet_change.outcomes] == [
        o.outcome_id for o in between.outcomes + busy_change.outcomes]


def test_an_add_on_named_twice_is_one_product_credited_once() -> None:
    account = Account(book())
    account.send("milestone", name="project_completed")
    result = account.send("subscription", day=1, plan="basic", addons=["reports", "reports"])
    assert [o.status for o in result.outcomes] == ["converted"]
    assert account.state.addons == ("reports",)


def test_an_upgrade_past_the_recommended_tier_to_custom_pricing_has_no_mrr_figure() -> None:
    account = Account(book())
    account.seats(8)
    assert only(account.send("subscription", day=1, plan="enterprise"), "converted").expansion_mrr \
        is None  # Enterprise has no list price


def test_buying_the_add_on_credits_the_cross_sell_with_its_price() -> None:
    account = Account(book())
    offer = account.send("milestone", name="project_completed").offers[0]
    converted = only(account.send("subscription", day=1, plan="basic", addons=["reports"]),
                     "converted")
    assert (converted.offer_id, converted.expansion_mrr) == (offer.offer_id, 15.0)


def test_a_plan_change_outside_the_window_withdraws_the_moot_offer() -> None:
    account = Account(book(guards="conversion_window_days: 2"))
    offer = account.seats(8).offers[0]  # valid 7 days
    result = account.send("subscription", day=5, plan="pro")  # too late to be its conversion
    assert result.converted == ()
    withdrawn = only(result, "withdrawn")
    assert (withdrawn.offer_id, withdrawn.detail) == (offer.offer_id, "the account has it now")


def test_an_unrelated_change_leaves_open_offers_alone() -> None:
    account = Account(book())
    account.seats(8)
    assert statuses(account.send("subscription", day=1, plan="basic", addons=["reports"])) == []


def test_a_downgrade_soon_after_a_conversion_is_post_upsell_churn() -> None:
    account = Account(book())
    offer = account.seats(8).offers[0]
    account.send("subscription", day=1, plan="pro")
    churned = only(account.send("subscription", day=60, plan="basic"), "churned")
    assert (churned.offer_id, churned.detail) == (offer.offer_id, "downgrade")
    assert account.state.find_offer(offer.offer_id).status == "churned"  # type: ignore[union-attr]


def test_a_downgrade_after_the_churn_window_is_not_held_against_the_offer() -> None:
    rules = book_with("outcomes: {churn_window_days: 30}\n")
    account = Account(rules)
    account.seats(8)
    account.send("subscription", day=1, plan="pro")
    assert statuses(account.send("subscription", day=40, plan="basic")) == []


def test_a_cancellation_churns_the_conversion_withdraws_open_offers_and_stops_offers() -> None:
    account = Account(book())
    converted = account.seats(8).offers[0]
    account.send("subscription", day=1, plan="pro")
    open_offer = account.send("milestone", day=2, name="project_completed").offers[0]
    result = account.send("subscription", day=3, plan="pro", status="cancelled")
    assert statuses(result) == [("seats-80", "churned"), ("done", "withdrawn")]
    assert {o.offer_id for o in result.outcomes} == {converted.offer_id, open_offer.offer_id}
    assert account.state.plan is None
    assert account.send("nps", day=4, score=10).offers == ()  # nothing to offer a leaver


def test_an_expired_offer_is_reported_when_the_account_is_next_touched_dated_at_its_expiry() -> None:
    account = Account(book())
    offer = account.seats(8).offers[0]
    assert statuses(account.seats(8, day=3)) == []  # still valid (7 days)
    expired = only(account.seats(8, day=9), "expired")
    assert (expired.offer_id, expired.at) == (offer.offer_id, offer.expires_at)
    assert statuses(account.seats(8, day=10)) == []  # once
    # Still credited within the conversion window: the message may have done its work.
    assert only(account.send("subscription", day=12, plan="pro"), "converted").offer_id == \
        offer.offer_id


def test_a_shown_offer_expires_but_an_answered_one_does_not() -> None:
    account = Account(book())
    offer = account.seats(8).offers[0]
    account.send("offer_response", day=1, offer_id=offer.offer_id, response="accepted")
    assert statuses(account.seats(8, day=9)) == []


HALF_HELD_OUT = "holdout: {share: 0.5, salt: test-salt}\n"


def test_a_held_out_account_gets_no_offer_but_an_outcome_and_the_guards_count_it() -> None:
    rules = book_with(HALF_HELD_OUT + "guards: {account_cap: {max_offers: 1, per_days: 30}}\n")
    held = next(Account(rules, account_id=f"a{i}") for i in range(100)
                if _held_out(rules, f"a{i}"))
    result = held.seats(8)
    assert result.offers == ()
    outcome = only(result, "held_out")
    assert (outcome.trigger_id, outcome.group) == ("seats-80", "held_out")
    # The cap counts it: a second trigger is held back as if the first had been sent.
    assert [(s.trigger_id, s.guard) for s in held.send("nps", day=1, score=10).suppressed] == [
        ("promoter", "account_cap")]
    # A held-out account's upgrade is credited to its held-out decision: the control rate.
    converted = only(held.send("subscription", day=2, plan="pro"), "converted")
    assert (converted.offer_id, converted.group) == (outcome.offer_id, "held_out")


def test_a_trigger_of_its_own_holdout_overrides_the_global_one() -> None:
    triggers = DEFAULT_TRIGGERS.replace(
        "offer: {kind: upsell, recommend: next_tier}, priority: 50}",
        "offer: {kind: upsell, recommend: next_tier}, priority: 50, "
        "holdout: {share: 0.0, salt: none}}")
    rules = book_with(HALF_HELD_OUT, triggers)
    [seats_80] = [t for t in rules.listeners[("metric", "seats")] if t.id == "seats-80"]
    [promoter] = [t for t in rules.listeners[("score", "nps")]]
    accounts = [f"a{i}" for i in range(200)]
    assert not any(seats_80.holds_out(a) for a in accounts)
    assert 60 < sum(promoter.holds_out(a) for a in accounts) < 140


def _held_out(rules: RuleBook, account_id: str) -> bool:
    return any(t.holds_out(account_id) for t in rules.listeners[("metric", "seats")])


def test_holdout_membership_is_the_same_in_another_process_and_share_is_kept() -> None:
    rules = book_with("holdout: {share: 0.1, salt: 2026-q4}\n")
    [trigger, *_] = rules.listeners[("metric", "seats")]
    accounts = [f"acct-{i}" for i in range(5000)]
    here = [a for a in accounts if trigger.holds_out(a)]
    assert 400 < len(here) < 600  # ~10%
    code = (  # another interpreter, another hash seed: the same members
        "from tests.triggers.test_lifecycle import book_with\n"
        "t = book_with('holdout: {share: 0.1, salt: 2026-q4}\\n').listeners[('metric', 'seats')][0]\n"
        "print(','.join(a for a in (f'acct-{i}' for i in range(5000)) if t.holds_out(a)))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "123", "PYTHONPATH": "."}).stdout
    assert there.strip().split(",") == here
    # A new salt draws a new group.
    redrawn = book_with("holdout: {share: 0.1, salt: 2027-q1}\n").listeners[("metric", "seats")][0]
    assert {a for a in accounts if redrawn.holds_out(a)} != set(here)
