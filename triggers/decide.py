"""evaluate(): one event, one account's state, the rules -> the offers to send.

This is the per-event hot path of the live engine and the whole of the offline
replay, so it is pure: no I/O, no clock (time is the event's `occurred_at`),
no globals. Work is proportional to what the event can fire: an event looks
only at the triggers indexed under its metric, feature, milestone, score type
or signal, and guards run only when a trigger fires.

Each event is decided first and applied last: every handler below computes the
new values (a gauge, a counter, fired levels, offers, silences, ...) from the
state without changing it, and writes them in one block at its end. An
exception raised while deciding (a bug, an input the contract let through)
leaves the account exactly as it was, its event id included, so the runtime
can dead-letter the event, checkpoint the state, and a redrive of the dead
letter is applied once, not dropped as a duplicate.
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
from triggers.pending import Pending
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
    """Decide what `event` does to `state`, apply it, and return the offers it makes."""
    fingerprint = event_fingerprint(event.event_id)
    if state.has_seen(fingerprint):
        return DUPLICATE
    now = event.occurred_at.timestamp()
    # Checked in order of frequency: usage readings are most of the traffic.
    if isinstance(event, UsageEvent):
        result = _on_usage(state, event, now, book)
    elif isinstance(event, FeatureGateEvent):
        result = _on_firings(
            state, [Firing(t, feature=event.feature) for t in book.by_feature.get(event.feature, ())],
            event, now, book,
        )
    elif isinstance(event, MilestoneEvent):
        result = _on_firings(
            state, [Firing(t, milestone=event.name) for t in book.by_milestone.get(event.name, ())],
            event, now, book,
        )
    elif isinstance(event, ScoreEvent):
        result = _on_score(state, event, now, book)
    elif isinstance(event, ChurnSignalEvent):
        result = _on_firings(
            state, [Firing(t, signal=event.name) for t in book.by_signal.get(event.name, ())],
            event, now, book,
        )
    elif isinstance(event, SubscriptionEvent):
        result = _on_subscription(state, event, now, book)
    elif isinstance(event, TicketEvent):
        result = _on_ticket(state, event, now)
    else:
        result = _on_offer_response(state, event, now, book)
    # The handler has applied its decision; the event id is the last thing written.
    state.remember_event(fingerprint)
    return result


def _on_usage(state: AccountState, event: UsageEvent, now: float, book: RuleBook) -> Evaluation:
    metric = event.metric
    kind = book.metric_kinds.get(metric)
    if kind is None:
        return Evaluation(ignored=f"unknown metric '{metric}'")
    gauge = event.value
    counter = None
    if gauge is not None:
        if kind != "gauge":
            return Evaluation(ignored=f"metric '{metric}' is a counter: send 'delta', not 'value'")
        previous = state.gauges.get(metric)
        if previous is not None and now < previous[1]:
            return NOTHING  # a late reading does not roll the gauge back
        value = gauge
    else:
        if kind != "counter":
            return Evaluation(ignored=f"metric '{metric}' is a gauge: send 'value', not 'delta'")
        counter = _counted(state.counters.get(metric), event.delta or 0.0, now, state.signed_up_at)
        if counter is None:
            return NOTHING  # belongs to a billing period that has ended
        value = counter[0]
    firings: list[Firing] = []
    rearmed: list[tuple[str, int]] = []  # levels it fell below: they can fire again
    triggers = book.by_metric.get(metric)
    if triggers:
        limits = book.plan_limits.get(state.plan) if state.plan is not None else None
        limit = limits.get(metric) if limits is not None else None
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
                rearmed.append((trigger.id, current))
    choice = _choose(state, firings, event, now, book, Pending()) if firings else None
    # Apply.
    if counter is None:
        state.gauges[metric] = (value, now)
    else:
        state.counters[metric] = counter
    for trigger_id, level in rearmed:
        if level < 0:
            del state.fired_levels[trigger_id]
        else:
            state.fired_levels[trigger_id] = level
    if choice is None:
        return NOTHING
    return choice.apply(state, book)


def _counted(
    current: tuple[float, float, float] | None, delta: float, now: float, anchor: float | None
) -> tuple[float, float, float] | None:
    """A counter after adding `delta` to its billing period (a new period starts
    from zero); None for a delta of a period that has ended."""
    if current is not None:
        total, start, end = current
        if start <= now < end:
            return (total + delta, start, end)
        if now < start:
            return None
    start, end = monthly_period(now, anchor)
    return (delta, start, end)


def _on_score(state: AccountState, event: ScoreEvent, now: float, book: RuleBook) -> Evaluation:
    low = book.rules.guards.low_score
    low_score_until = state.low_score_until
    if low is not None and event.type == low.score_type and event.score <= low.at_most:
        low_score_until = max(low_score_until, now + low.silence_days * DAY)
    firings = [
        Firing(trigger, score_type=event.type, score=event.score)
        for trigger in book.by_score.get(event.type, ())
        if event.score >= trigger.at_least
    ]
    # The silence starts with this score, so it holds back what the score itself fires.
    choice = (
        _choose(state, firings, event, now, book, Pending(low_score_until=low_score_until))
        if firings else None
    )
    # Apply.
    state.low_score_until = low_score_until
    if choice is None:
        return NOTHING
    return choice.apply(state, book)


def _on_firings(
    state: AccountState, firings: list[Firing], event: Event, now: float, book: RuleBook
) -> Evaluation:
    """Events whose only effect is what they fire (feature gates, milestones, signals)."""
    if not firings:
        return NOTHING
    return _choose(state, firings, event, now, book, Pending()).apply(state, book)


def _on_subscription(
    state: AccountState, event: SubscriptionEvent, now: float, book: RuleBook
) -> Evaluation:
    if now < state.plan_at:
        return NOTHING  # an older subscription state arriving late
    plan, addons = event.plan, tuple(sorted(event.addons))
    ignored = None if plan in book.rules.plans else f"unknown plan '{plan}'"
    window = book.rules.guards.conversion_window_days * DAY
    converted = [
        record for record in state.offers
        if record.status != "converted" and 0 <= now - record.created_at <= window
        and _converts(record, state.plan, state.addons, plan, addons, book)
    ]
    # Apply.
    if event.started_at is not None:
        state.signed_up_at = event.started_at.timestamp()
    state.plan, state.addons, state.plan_at = plan, addons, now
    for record in converted:
        record.status = "converted"
    return Evaluation(converted=tuple(converted), ignored=ignored)


def _converts(
    record: OfferRecord,
    old_plan: str | None,
    old_addons: tuple[str, ...],
    new_plan: str,
    new_addons: tuple[str, ...],
    book: RuleBook,
) -> bool:
    """Did this plan change take up the offer? An upsell also converts when the
    account went past the recommended tier."""
    kind, _, target = record.target.partition(":")
    if kind == "addon":
        return target in new_addons and target not in old_addons
    if new_plan == old_plan:
        return False
    if new_plan == target:
        return True
    rank = book.rank
    return record.kind == "upsell" and rank.get(new_plan, -1) > rank.get(target, 0)


def _on_ticket(state: AccountState, event: TicketEvent, now: float) -> Evaluation:
    tickets = state.tickets
    ticket_id = event.ticket_id
    previous = tickets.get(ticket_id)
    if previous is not None and now < previous[2]:
        return NOTHING
    is_open = event.status == "opened"
    dropped = None
    if len(tickets) + (previous is None) > TICKET_HISTORY:
        # Forget the ticket resolved longest ago (this one included, if it is resolved).
        closed = [(at, other) for other, (open_, _, at) in tickets.items()
                  if not open_ and other != ticket_id]
        if not is_open:
            closed.append((now, ticket_id))
        if closed:
            dropped = min(closed)[1]
    # Apply.
    tickets[ticket_id] = (is_open, event.severity, now)
    if dropped is not None:
        del tickets[dropped]
    return NOTHING


def _on_offer_response(
    state: AccountState, event: OfferResponseEvent, now: float, book: RuleBook
) -> Evaluation:
    record = state.find_offer(event.offer_id)
    if record is None:
        return NOTHING  # older than the history kept, or not this engine's offer
    response = event.response
    status = record.status
    if response == "shown":
        if status == "sent":
            status = "shown"
    elif status in ("sent", "shown"):
        status = response
    silence_days = (
        book.rules.guards.silence_after_response.get(response)
        if response in ("declined", "dismissed") else None
    )
    silenced = None
    if silence_days:
        until = now + silence_days * DAY
        silenced = {k: v for k, v in state.silenced.items() if v > now}
        silenced[record.target] = max(until, silenced.get(record.target, until))
    # Apply.
    record.status = status
    if silenced is not None:
        state.silenced = silenced
    return NOTHING


class Choice(NamedTuple):
    """Which fired triggers become offers, decided and not yet applied."""

    offers: list[Offer]
    records: list[OfferRecord]  # what the account will remember of those offers
    suppressed: list[Suppression]
    consumed: list[tuple[str, int]]  # levels used up: (trigger id, level index)

    def apply(self, state: AccountState, book: RuleBook) -> Evaluation:
        fired_levels = state.fired_levels
        for trigger_id, level in self.consumed:
            fired_levels[trigger_id] = level
        for record in self.records:
            state.remember_offer(record, book.cap_window)
        return Evaluation(offers=tuple(self.offers), suppressed=tuple(self.suppressed))


def _choose(
    state: AccountState,
    firings: list[Firing],
    event: Event,
    now: float,
    book: RuleBook,
    pending: Pending,
) -> Choice:
    """Guards and priority pick which of the fired triggers become offers."""
    if len(firings) > 1:
        firings.sort(key=lambda f: (-f.trigger.priority, f.trigger.id))
    choice = Choice([], [], [], [])
    offered_targets: set[str] = set()
    for firing in firings:
        trigger = firing.trigger
        target = book.target_for(trigger, state.plan, state.addons)
        if target is None:
            choice.suppressed.append(Suppression(trigger.id, "nothing_to_offer"))
            _consume_level(choice, firing)
            continue
        if target.key in offered_targets:
            # One event, one offer per product: "reached" already covers "approaching".
            choice.suppressed.append(Suppression(trigger.id, "superseded"))
            _consume_level(choice, firing)
            continue
        holding = None
        for guard in trigger.guards:
            if guard.holds_back(state, pending, trigger.id, target.key, now):
                holding = guard.name
                break
        if holding is not None:
            # The crossing stays pending: it fires on a later reading once guards allow.
            choice.suppressed.append(Suppression(trigger.id, holding))
            continue
        offer = build_offer(
            firing, target, state.account_id, state.plan, event.event_id, event.occurred_at, book
        )
        _consume_level(choice, firing)
        choice.offers.append(offer)
        choice.records.append(
            OfferRecord(offer.offer_id, trigger.id, trigger.offer_kind, target.key, now)
        )
        pending.offers += 1
        offered_targets.add(target.key)
    return choice


def _consume_level(choice: Choice, firing: Firing) -> None:
    if firing.level_index >= 0:
        choice.consumed.append((firing.trigger.id, firing.level_index))
