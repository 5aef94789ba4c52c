"""Turning a fired trigger into an Offer: a deterministic id and the reason in
the customer's own numbers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import NamedTuple

from schemas.offers import Offer, Reason
from triggers.rulebook import CompiledTrigger, RuleBook, Target, format_number


def offer_id_for(account_id: str, trigger_id: str, caused_by: str) -> str:
    """The same decision (account, trigger, causing event) always gets the same id,
    so a consumer can drop the duplicate an at-least-once restart may send."""
    key = f"{account_id}\x1f{trigger_id}\x1f{caused_by}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


class Firing(NamedTuple):
    """A trigger that fired on an event, with the numbers that made it fire.
    (A NamedTuple: built on the hot path, and the cheapest immutable record.)"""

    trigger: CompiledTrigger
    level_index: int = -1  # usage thresholds: which level was crossed
    value: float | None = None
    limit: float | None = None
    feature: str | None = None
    milestone: str | None = None
    score_type: str | None = None
    score: float | None = None
    signal: str | None = None


def build_offer(
    firing: Firing,
    target: Target,
    account_id: str,
    plan: str | None,
    event_id: str,
    occurred_at: datetime,
    book: RuleBook,
) -> Offer:
    trigger = firing.trigger
    created = occurred_at.astimezone(UTC)
    # model_construct: every field below is built here from validated data, so
    # validating it again would only cost time on the hot path.
    return Offer.model_construct(
        offer_id=offer_id_for(account_id, trigger.id, event_id),
        account_id=account_id,
        kind=trigger.offer_kind,
        trigger_id=trigger.id,
        current_plan=plan,
        recommended=target.recommendation,
        reason=_reason(firing, plan, book),
        created_at=created,
        expires_at=datetime.fromtimestamp(created.timestamp() + trigger.valid_for, UTC),
        caused_by=event_id,
        rules_version=book.version,
        priority=trigger.priority,
        schema_version=1,
    )


def _reason(firing: Firing, plan: str | None, book: RuleBook) -> Reason:
    trigger = firing.trigger
    if firing.value is not None and firing.limit is not None and trigger.metric is not None:
        metric = book.rules.metrics[trigger.metric]
        label = metric.label or trigger.metric.replace("_", " ")
        percent = round(firing.value * 100 / firing.limit, 1)
        level = trigger.levels[firing.level_index]
        period = " this billing period" if metric.kind == "counter" else ""
        text = (
            f"{format_number(firing.value)} of {format_number(firing.limit)} {label} "
            f"used{period} ({format_number(round(percent))}%)"
        )
        if trigger.kind == "limit_reached":
            text += f": the {_plan_name(plan, book)} plan's limit is reached"
        return _reason_with(
            text=text, metric=trigger.metric, value=firing.value, limit=firing.limit,
            percent=percent, level=level,
        )
    if firing.feature is not None:
        return _reason_with(
            text=(
                f"tried {_words(firing.feature)}, which the "
                f"{_plan_name(plan, book)} plan does not include"
            ),
            feature=firing.feature,
        )
    if firing.milestone is not None:
        return _reason_with(text=f"reached a milestone: {_words(firing.milestone)}",
                            milestone=firing.milestone)
    if firing.score is not None and firing.score_type is not None:
        scale = "NPS" if firing.score_type == "nps" else _words(firing.score_type)
        return _reason_with(
            text=f"{scale} score of {format_number(firing.score)}",
            score_type=firing.score_type, score=firing.score,
        )
    signal = firing.signal or trigger.id
    return _reason_with(text=f"churn signal: {_words(signal)}", signal=signal)


_NO_REASON_FIELDS = dict.fromkeys(Reason.model_fields)


def _reason_with(**fields: object) -> Reason:
    """A Reason with every field given: model_construct then skips resolving
    defaults, which is most of its cost."""
    return Reason.model_construct(**{**_NO_REASON_FIELDS, **fields})  # type: ignore[arg-type]


def _plan_name(plan: str | None, book: RuleBook) -> str:
    known = book.rules.plans.get(plan) if plan is not None else None
    return known.name if known is not None else str(plan)


def _words(identifier: str) -> str:
    return identifier.replace("_", " ")
