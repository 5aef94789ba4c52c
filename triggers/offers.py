"""Turning a fired trigger into an Offer: a deterministic id and the reason in
the customer's own numbers (worded by the trigger's kind)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from schemas.offers import Offer
from triggers.rulebook import RuleBook, Target
from triggers.trigger import Firing

# Every field None: each offer is a copy of it with all its fields set, half the cost
# of model_construct (which resolves each field's alias and default).
_BLANK = Offer.model_construct(**dict.fromkeys(Offer.model_fields))  # type: ignore[arg-type]


def due_cause(moment: datetime) -> str:
    """What caused a change made at a due time: 'due:2026-03-31T09:00:00Z'
    (microseconds only when there are some). Part of the offer id of a timed offer,
    so it must never change for the same due time."""
    return "due:" + moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def offer_id_for(account_id: str, trigger_id: str, caused_by: str) -> str:
    """The same decision (account, trigger, causing event, or a timed offer's due
    time as 'due:<RFC 3339>') always gets the same id, so a consumer can drop the
    duplicate an at-least-once restart may send."""
    key = f"{account_id}\x1f{trigger_id}\x1f{caused_by}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def build_offer(
    firing: Firing,
    target: Target,
    account_id: str,
    plan: str | None,
    caused_by: str,
    occurred_at: datetime,
    book: RuleBook,
) -> Offer:
    trigger = firing.trigger
    created = occurred_at.astimezone(UTC)
    # Every field below is built here from validated data, so validating it again
    # would only cost time on the hot path.
    return _BLANK.model_copy(update={
        "offer_id": offer_id_for(account_id, trigger.id, caused_by),
        "account_id": account_id,
        "kind": trigger.offer.kind,
        "trigger_id": trigger.id,
        "current_plan": plan,
        "recommended": target.recommendation,
        "reason": trigger.kind.reason(firing, book.plan_name(plan)),
        "created_at": created,
        "expires_at": datetime.fromtimestamp(created.timestamp() + trigger.offer.valid_for, UTC),
        "caused_by": caused_by,
        "rules_version": book.version,
        "priority": trigger.priority,
        "schema_version": 1,
    })
