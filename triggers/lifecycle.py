"""What becomes of an offer once it is made: shown, answered, converted, expired,
withdrawn, churned. Each change is written to the account's offer record and
published as an Outcome (schemas/outcomes.py), so the report can say which
trigger earns its keep and in-app messaging knows when to stop showing one.

The credit rule: one plan change converts at most one offer per product it
takes up (the plan, each new add-on). Of the offers that could claim it (made
within the conversion window, whatever the answer: a "no" followed by the upgrade
still counts, as the control group's upgrades count, so that the lift compares
like with like; held-out ones included), the latest shown wins, else the latest made; it gets the expansion
MRR (monthly price after minus before, from the plan catalogue) and the others
are withdrawn. An open offer the change makes moot (the account has the plan or
more, or the add-on) is withdrawn too.

Post-upsell churn: a downgrade, a cancellation or the add-on removed within
`outcomes.churn_window_days` of a conversion is recorded against that offer.

An offer whose time ran out is `expired`, dated at its expiry, before anything
else happens to it: when the account is next touched (an event, a wake), and first
of all in a handler that reads it, so that the outcomes do not depend on whether
some other event came in between.

Like every handler, these decide without touching the account and return the
changes, applied by the caller at the end (see decide.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import NamedTuple, cast

from schemas.events import OfferResponseEvent
from schemas.offers import Offer, OfferKind
from schemas.outcomes import Group, Outcome, OutcomeStatus
from triggers.offers import due_cause
from triggers.rulebook import DAY, RuleBook
from triggers.state import AccountState, OfferRecord

# Statuses in which in-app messaging may still show the offer.
OPEN = ("sent", "shown")
# ... in which a plan change may be credited to it (any decision not yet credited,
# withdrawn or churned).
CREDITABLE = ("sent", "shown", "accepted", "declined", "dismissed", "expired", "held_out")
# ... in which a moot offer is withdrawn (shown, or about to be acted on).
WITHDRAWABLE = ("sent", "shown", "accepted")
# Responses that close an offer.
ANSWERS = ("accepted", "declined", "dismissed")

UNKNOWN_OFFER = "response to an unknown offer"
# What a response may follow: an expired offer is not shown again, but may be answered late.
_SHOWABLE = ("sent",)
_ANSWERABLE = ("sent", "shown", "expired")


class Change(NamedTuple):
    """A status to write to an offer record, and the outcome that says so."""

    record: OfferRecord
    status: str
    outcome: Outcome


def apply_changes(state: AccountState, changes: list[Change], now: float) -> tuple[Outcome, ...]:
    for record, status, _ in changes:
        record.status = status
        if status == "shown" or (status in ANSWERS and record.shown_at is None):
            record.shown_at = now
        elif status == "converted":
            record.converted_at = now
    if changes:
        state.next_expiry = next_expiry(state.offers)
    return tuple(change.outcome for change in changes)


def next_expiry(offers: list[OfferRecord]) -> float:
    """When the first open offer expires (inf: none is open)."""
    return min((r.expires_at for r in offers if r.status in OPEN), default=float("inf"))


def status_at(record: OfferRecord, now: float) -> str:
    """The record's status at `now`: an open offer past its expiry is expired."""
    status = record.status
    return "expired" if status in OPEN and record.expires_at <= now else status


def expired(state: AccountState, now: float, book: RuleBook) -> list[Change]:
    """Open offers whose time ran out by `now`, each dated at its expiry. Found when
    the account is next touched (an event, a timer's wake), not at the moment."""
    if now < state.next_expiry:
        return []
    return [
        Change(record, "expired", outcome_of(
            record, "expired", state.account_id, record.expires_at,
            due_cause(datetime.fromtimestamp(record.expires_at, UTC)), book))
        for record in state.offers if record.status in OPEN and record.expires_at <= now
    ]


def on_response(
    state: AccountState, event: OfferResponseEvent, now: float, book: RuleBook
) -> tuple[OfferRecord | None, list[Change], Outcome | None]:
    """The record the response names, its change (if any), and an unknown-offer outcome."""
    record = state.find_offer(event.offer_id)
    if record is None or record.held_out:
        return None, [], Outcome.model_construct(
            outcome_id=outcome_id(event.offer_id, "unknown_offer", event.event_id),
            offer_id=event.offer_id, account_id=state.account_id, trigger_id=None, kind=None,
            recommended=None, status="unknown_offer", group=None, at=event.occurred_at,
            caused_by=event.event_id, expires_at=None, plan_before=None, plan_after=None,
            expansion_mrr=None, detail=f"{event.response}: no such offer for this account",
            rules_version=book.version, schema_version=1,
        )
    response = event.response
    changes = expired(state, now, book)  # first: the offer may have run out already
    if status_at(record, now) not in (_SHOWABLE if response == "shown" else _ANSWERABLE):
        return record, changes, None  # a repeat, or an answer after another: the first stands
    return record, [*changes, Change(record, response, outcome_of(
        record, response, state.account_id, now, event.event_id, book))], None


def after_plan_change(
    state: AccountState, plan: str | None, addons: tuple[str, ...], now: float,
    caused_by: str, book: RuleBook, cancelled: bool = False,
) -> list[Change]:
    """The offers a subscription change (to `plan` and `addons`; `cancelled`: the
    account left) converts, withdraws and churns."""
    old_plan, old_addons = state.plan, state.addons
    if old_plan is None or not state.offers:
        return []
    changes = expired(state, now, book)  # first: offers that ran out are not withdrawn
    changed: set[str] = set()  # offer ids with a change already (expiries aside)
    account = state.account_id

    def change(record: OfferRecord, status: OutcomeStatus, expansion_mrr: float | None = None,
               detail: str | None = None) -> None:
        changes.append(Change(record, status, outcome_of(
            record, status, account, now, caused_by, book, plan_before=old_plan,
            plan_after=None if cancelled else plan, expansion_mrr=expansion_mrr, detail=detail)))
        changed.add(record.offer_id)

    rank = book.rank
    downgraded = cancelled or (plan in rank and rank[plan] < rank.get(old_plan, 0))
    churn_window = book.rules.outcomes.churn_window_days * DAY
    for record in state.offers:
        if record.status != "converted" or record.converted_at is None \
                or now - record.converted_at > churn_window:
            continue
        lost_addon = record.target.startswith("addon:") and record.target[6:] not in addons
        if (record.kind == "upsell" and downgraded) or (record.kind == "cross_sell" and (
                cancelled or lost_addon)):
            change(record, "churned", detail="cancelled" if cancelled else (
                "add-on removed" if lost_addon else "downgrade"))
    if cancelled:
        for record in state.offers:
            if status_at(record, now) in WITHDRAWABLE and record.offer_id not in changed:
                change(record, "withdrawn", detail="the account cancelled")
        return changes

    window = book.rules.guards.conversion_window_days * DAY
    candidates = [r for r in state.offers
                  if status_at(r, now) in CREDITABLE and 0 <= now - r.created_at <= window]
    products: list[tuple[str, float | None, list[OfferRecord]]] = []
    if plan != old_plan:
        taken = [r for r in candidates if _takes_plan(r, old_plan, plan, book)]
        products.append(("plan", _difference(book, old_plan, plan), taken))
    for addon in addons:
        if addon not in old_addons:
            taken = [r for r in candidates if r.target == f"addon:{addon}"]
            price = book.rules.addons[addon].price_monthly if addon in book.rules.addons else None
            products.append((addon, price, taken))
    for _product, mrr, taken in products:
        if not taken:
            continue
        winner = max(taken, key=_claim)
        change(winner, "converted", expansion_mrr=mrr)
        for other in taken:
            if other is not winner and status_at(other, now) in WITHDRAWABLE:
                change(other, "withdrawn", detail="another offer was credited with this change")
    if plan in book.rules.plans:
        for record in state.offers:
            if status_at(record, now) in WITHDRAWABLE and record.offer_id not in changed \
                    and _moot(record, plan, addons, book):
                change(record, "withdrawn", detail="the account has it now")
    return changes


def made(offer: Offer, record: OfferRecord, book: RuleBook) -> Outcome:
    """The outcome of a decision: `made` (sent) or `held_out` (control group)."""
    status: OutcomeStatus = "held_out" if record.held_out else "made"
    return Outcome.model_construct(
        outcome_id=outcome_id(offer.offer_id, status), offer_id=offer.offer_id,
        account_id=offer.account_id, trigger_id=offer.trigger_id, kind=offer.kind,
        recommended=record.target, status=status, group=_group(record), at=offer.created_at,
        caused_by=offer.caused_by, expires_at=offer.expires_at, plan_before=offer.current_plan,
        plan_after=None, expansion_mrr=None, detail=None, rules_version=book.version,
        schema_version=1,
    )


def outcome_of(
    record: OfferRecord, status: OutcomeStatus, account_id: str, at: float, caused_by: str,
    book: RuleBook, plan_before: str | None = None, plan_after: str | None = None,
    expansion_mrr: float | None = None, detail: str | None = None,
) -> Outcome:
    # model_construct: every field is built here from validated data (see offers.py).
    return Outcome.model_construct(
        outcome_id=outcome_id(record.offer_id, status), offer_id=record.offer_id,
        account_id=account_id, trigger_id=record.trigger_id, kind=cast(OfferKind, record.kind),
        recommended=record.target, status=status, group=_group(record),
        at=datetime.fromtimestamp(at, UTC), caused_by=caused_by, expires_at=None,
        plan_before=plan_before, plan_after=plan_after, expansion_mrr=expansion_mrr,
        detail=detail, rules_version=book.version, schema_version=1,
    )


def outcome_id(offer_id: str, status: str, extra: str = "") -> str:
    """An offer reaches each status once, so (offer, status) names the change; an
    unknown offer's response adds the event id."""
    key = f"{offer_id}\x1f{status}\x1f{extra}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def _group(record: OfferRecord) -> Group:
    return "held_out" if record.held_out else "offered"


def _claim(record: OfferRecord) -> tuple[bool, float]:
    """Shown offers before unshown ones; then the latest."""
    if record.shown_at is not None:
        return True, record.shown_at
    return False, record.created_at


def _takes_plan(record: OfferRecord, old_plan: str, new_plan: str | None, book: RuleBook) -> bool:
    """Does moving from `old_plan` to `new_plan` take up this plan offer? An upsell
    is taken up by its tier or one above, a down-sell by its tier or one below."""
    kind, _, target = record.target.partition(":")
    if kind != "plan" or new_plan is None or new_plan == old_plan:
        return False
    if new_plan == target:
        return True
    rank = book.rank
    if new_plan not in rank or target not in rank:
        return False
    if record.kind == "upsell":
        return rank[new_plan] > rank[target]
    if record.kind == "down_sell":
        return rank[new_plan] < rank[target]
    return False


def _moot(record: OfferRecord, plan: str, addons: tuple[str, ...], book: RuleBook) -> bool:
    """The account already has what the offer recommends (or an upsell's tier is
    now at or below its plan, a down-sell's at or above)."""
    kind, _, target = record.target.partition(":")
    if kind == "addon":
        return target in addons
    rank = book.rank
    if target == plan:
        return True
    if record.kind == "upsell":
        return rank.get(plan, -1) > rank.get(target, 0)
    if record.kind == "down_sell":
        return rank.get(plan, 0) < rank.get(target, -1)
    return False


def _difference(book: RuleBook, old_plan: str, new_plan: str | None) -> float | None:
    plans = book.rules.plans
    before = plans[old_plan].price_monthly if old_plan in plans else None
    after = plans[new_plan].price_monthly if new_plan in plans else None
    if before is None or after is None:
        return None  # custom pricing: the report says so rather than guess
    return round(after - before, 2)

