"""evaluate(): one event, one account's state, the rules -> the offers to send.

This is the per-event hot path of the live engine and the whole of the offline
replay, so it is pure: no I/O, no clock (time is the event's `occurred_at`),
no globals. The account's state is updated in place. Work is proportional to
what the event can fire: an event looks only at the triggers indexed under its
metric, feature, milestone, score type or signal, and guards run only when a
trigger fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from schemas.events import (
    ChurnSignalEvent,
    Event,
    FeatureGateEvent,
    MilestoneEvent,
    OfferResponseEvent,
    ScoreEvent,
    SubscriptionEvent,
    TicketEvent,
    UsageEvent,
)
from schemas.offers import Offer
from triggers.offers import Firing, build_offer
from triggers.periods import monthly_period
from triggers.rulebook import DAY, RuleBook
from triggers.state import TICKET_HISTORY, AccountState, OfferRecord, event_fingerprint


@dataclass(frozen=True, slots=True)
class Suppression:
    """A trigger that fired but was held back, and by what."""

    trigger_id: str
    guard: str  # a guard's name, or nothing_to_offer / superseded


class Evaluation(NamedTuple):
    """What one event did."""

    offers: tuple[Offer, ...] = ()
    suppressed: tuple[Suppression, ...] = ()
    converted: tuple[OfferRecord, ...] = ()  # offers this event converted (an upgrade)
    duplicate: bool = False  # an event id already applied: the state did not change
    ignored: str | None = None  # why the event could not be used (unknown metric, ...)


NOTHING = Evaluation()
DUPLICATE = Evaluation(duplicate=True)


def evaluate(state: AccountState, event: Event, book: RuleBook) -> Evaluation:
    """Apply `event` to `state` and return the offers it makes."""
    if state.seen_before(event_fingerprint(event.event_id)):
        return DUPLICATE
    now = event.occurred_at.timestamp()
    # Checked in order of frequency: usage readings are most of the traffic.
    if isinstance(event, UsageEvent):
        firings = _on_usage(state, event, now, book)
        if isinstance(firings, str):
            return Evaluation(ignored=firings)
    elif isinstance(event, FeatureGateEvent):
        firings = [Firing(t, feature=event.feature) for t in book.by_feature.get(event.feature, ())]
    elif isinstance(event, MilestoneEvent):
        firings = [Firing(t, milestone=event.name) for t in book.by_milestone.get(event.name, ())]
    elif isinstance(event, ScoreEvent):
        firings = _on_score(state, event, now, book)
    elif isinstance(event, ChurnSignalEvent):
        firings = [Firing(t, signal=event.name) for t in book.by_signal.get(event.name, ())]
    elif isinstance(event, SubscriptionEvent):
        return _on_subscription(state, event, now, book)
    elif isinstance(event, TicketEvent):
        _on_ticket(state, event, now)
        return NOTHING
    else:
        _on_offer_response(state, event, now, book)
        return NOTHING
    if not firings:
        return NOTHING
    return _choose(state, firings, event, now, book)


def _on_usage(state: AccountState, event: UsageEvent, now: float, book: RuleBook) -> list[Firing] | str:
    metric = event.metric
    kind = book.metric_kinds.get(metric)
    if kind is None:
        return f"unknown metric '{metric}'"
    if event.value is not None:
        if kind != "gauge":
            return f"metric '{metric}' is a counter: send 'delta', not 'value'"
        previous = state.gauges.get(metric)
        if previous is not None and now < previous[1]:
            return []  # a late reading does not roll the gauge back
        state.gauges[metric] = (event.value, now)
        value = event.value
    else:
        if kind != "counter":
            return f"metric '{metric}' is a gauge: send 'value', not 'delta'"
        counted = _count(state, metric, event.delta or 0.0, now)
        if counted is None:
            return []  # belongs to a billing period that has ended
        value = counted
    triggers = book.by_metric.get(metric)
    if not triggers:
        return []
    limits = book.plan_limits.get(state.plan) if state.plan is not None else None
    limit = limits.get(metric) if limits is not None else None
    firings = []
    fired_levels = state.fired_levels
    for trigger in triggers:
        current = -1
        if limit is not None:
            for index, level in enumerate(trigger.levels):
                # Integer-safe "value / limit >= level %": 8 of 10 is exactly 80%.
                if value * 100 >= level * limit:
                    current = index
                else:
                    break
        fired = fired_levels.get(trigger.id, -1)
        if current > fired:
            firings.append(Firing(trigger, level_index=current, value=value, limit=limit))
        elif current < fired:
            # Fell below a level it had fired at: that level can fire again.
            if current < 0:
                del fired_levels[trigger.id]
            else:
                fired_levels[trigger.id] = current
    return firings


def _count(state: AccountState, metric: str, delta: float, now: float) -> float | None:
    """Add a counter delta to its billing period; a new period starts from zero."""
    current = state.counters.get(metric)
    if current is not None:
        total, start, end = current
        if start <= now < end:
            total += delta
            state.counters[metric] = (total, start, end)
            return total
        if now < start:
            return None
    start, end = monthly_period(now, state.signed_up_at)
    state.counters[metric] = (delta, start, end)
    return delta


def _on_score(state: AccountState, event: ScoreEvent, now: float, book: RuleBook) -> list[Firing]:
    low = book.rules.guards.low_score
    if low is not None and event.type == low.score_type and event.score <= low.at_most:
        state.low_score_until = max(state.low_score_until, now + low.silence_days * DAY)
    return [
        Firing(trigger, score_type=event.type, score=event.score)
        for trigger in book.by_score.get(event.type, ())
        if event.score >= trigger.at_least
    ]


def _on_subscription(
    state: AccountState, event: SubscriptionEvent, now: float, book: RuleBook
) -> Evaluation:
    if now < state.plan_at:
        return NOTHING  # an older subscription state arriving late
    if event.started_at is not None:
        state.signed_up_at = event.started_at.timestamp()
    old_plan, old_addons = state.plan, state.addons
    state.plan, state.addons, state.plan_at = event.plan, tuple(sorted(event.addons)), now
    ignored = None if event.plan in book.rules.plans else f"unknown plan '{event.plan}'"
    window = book.rules.guards.conversion_window_days * DAY
    converted = []
    for record in state.offers:
        if record.status == "converted" or not 0 <= now - record.created_at <= window:
            continue
        if _converts(record, old_plan, old_addons, state, book):
            record.status = "converted"
            converted.append(record)
    return Evaluation(converted=tuple(converted), ignored=ignored)


def _converts(
    record: OfferRecord,
    old_plan: str | None,
    old_addons: tuple[str, ...],
    state: AccountState,
    book: RuleBook,
) -> bool:
    """Did this plan change take up the offer? An upsell also converts when the
    account went past the recommended tier."""
    kind, _, target = record.target.partition(":")
    if kind == "addon":
        return target in state.addons and target not in old_addons
    new_plan = state.plan
    if new_plan == old_plan or new_plan is None:
        return False
    if new_plan == target:
        return True
    rank = book.rank
    return record.kind == "upsell" and rank.get(new_plan, -1) > rank.get(target, 0)


def _on_ticket(state: AccountState, event: TicketEvent, now: float) -> None:
    previous = state.tickets.get(event.ticket_id)
    if previous is not None and now < previous[2]:
        return
    state.tickets[event.ticket_id] = (event.status == "opened", event.severity, now)
    if len(state.tickets) > TICKET_HISTORY:
        closed = [(at, ticket) for ticket, (is_open, _, at) in state.tickets.items() if not is_open]
        if closed:
            del state.tickets[min(closed)[1]]


def _on_offer_response(
    state: AccountState, event: OfferResponseEvent, now: float, book: RuleBook
) -> None:
    record = state.find_offer(event.offer_id)
    if record is None:
        return  # older than the history kept, or not this engine's offer
    response = event.response
    if response == "shown":
        if record.status == "sent":
            record.status = "shown"
    elif record.status in ("sent", "shown"):
        record.status = response
    silence_days = (
        book.rules.guards.silence_after_response.get(response)
        if response in ("declined", "dismissed") else None
    )
    if silence_days:
        until = now + silence_days * DAY
        state.silenced = {k: v for k, v in state.silenced.items() if v > now}
        state.silenced[record.target] = max(until, state.silenced.get(record.target, until))


def _choose(
    state: AccountState, firings: list[Firing], event: Event, now: float, book: RuleBook
) -> Evaluation:
    """Guards and priority pick which of the fired triggers become offers."""
    if len(firings) > 1:
        firings.sort(key=lambda f: (-f.trigger.priority, f.trigger.id))
    offers: list[Offer] = []
    suppressed: list[Suppression] = []
    offered_targets: set[str] = set()
    for firing in firings:
        trigger = firing.trigger
        target = book.target_for(trigger, state.plan, state.addons)
        if target is None:
            suppressed.append(Suppression(trigger.id, "nothing_to_offer"))
            _consume_level(state, firing)
            continue
        if target.key in offered_targets:
            # One event, one offer per product: "reached" already covers "approaching".
            suppressed.append(Suppression(trigger.id, "superseded"))
            _consume_level(state, firing)
            continue
        holding = None
        for guard in trigger.guards:
            if guard.holds_back(state, trigger.id, target.key, now):
                holding = guard.name
                break
        if holding is not None:
            # The crossing stays pending: it fires on a later reading once guards allow.
            suppressed.append(Suppression(trigger.id, holding))
            continue
        offer = build_offer(
            firing, target, state.account_id, state.plan, event.event_id, event.occurred_at, book
        )
        _consume_level(state, firing)
        state.remember_offer(
            OfferRecord(offer.offer_id, trigger.id, trigger.offer_kind, target.key, now),
            book.cap_window,
        )
        offers.append(offer)
        offered_targets.add(target.key)
    return Evaluation(offers=tuple(offers), suppressed=tuple(suppressed))


def _consume_level(state: AccountState, firing: Firing) -> None:
    if firing.level_index >= 0:
        state.fired_levels[firing.trigger.id] = firing.level_index
