"""evaluate(): one event, one account's state, the rules -> the offers to send.

This is the per-event hot path of the live engine and the whole of the offline
replay, so it is pure: no I/O, no clock (time is the event's `occurred_at`),
no globals. Work is proportional to what the event can fire: an event's signal
(its metric, feature, milestone, score type or churn signal) finds the few
triggers whose conditions listen on it, and guards run only when one fires.

Each event is decided first and applied last: every handler computes the new
values (a gauge, a counter, fired levels, offers, silences, ...) from the
state without changing it, and writes them in one block at its end. An
exception raised while deciding (a bug, an input the contract let through)
leaves the account exactly as it was, its event id included, so the runtime
can dead-letter the event, checkpoint the state, and a redrive of the dead
letter is applied once, not dropped as a duplicate.
"""

from __future__ import annotations

from schemas.events import (
    AccountEvent,
    ChurnSignalEvent,
    Event,
    FeatureGateEvent,
    MilestoneEvent,
    ScoreEvent,
    SubscriptionEvent,
    TicketEvent,
    UsageEvent,
)
from triggers.account_events import on_account, on_offer_response, on_subscription, on_ticket
from triggers.choose import Choice, choose
from triggers.conditions import CHURN_SIGNAL, FEATURE, METRIC, MILESTONE, NOT_MET, SCORE, Signal
from triggers.evaluation import DUPLICATE, NOTHING, Evaluation, Suppression
from triggers.history import with_sample
from triggers.lifecycle import apply_changes, expired
from triggers.pending import Pending
from triggers.periods import add_to_period
from triggers.rulebook import DAY, RuleBook
from triggers.state import AccountState, event_fingerprint
from triggers.timers import refresh_timers
from triggers.trigger import Firing, Trigger

__all__ = ["DUPLICATE", "NOTHING", "Evaluation", "Suppression", "evaluate"]


def evaluate(state: AccountState, event: Event, book: RuleBook) -> Evaluation:
    """Decide what `event` does to `state`, apply it, and return the offers it makes."""
    fingerprint = event_fingerprint(event.event_id)
    if state.has_seen(fingerprint):
        return DUPLICATE
    now = event.occurred_at.timestamp()
    moves_timers = bool(book.timed)
    # Checked in order of frequency: usage readings are most of the traffic.
    watch = None
    if isinstance(event, UsageEvent):
        watch = _ReadingWatch(state, event.metric, now, book) if moves_timers else None
        result = _on_usage(state, event, now, book)
        moves_timers = watch is not None and watch.moved_timers(state, now)
    elif isinstance(event, FeatureGateEvent):
        result = _on_signal(state, event, (FEATURE, event.feature), now, book)
    elif isinstance(event, MilestoneEvent):
        result = _on_signal(state, event, (MILESTONE, event.name), now, book)
    elif isinstance(event, ScoreEvent):
        result = _on_score(state, event, now, book)
    elif isinstance(event, ChurnSignalEvent):
        result = _on_signal(state, event, (CHURN_SIGNAL, event.name), now, book)
    elif isinstance(event, SubscriptionEvent):
        result = on_subscription(state, event, now, book)
    elif isinstance(event, TicketEvent):
        result = on_ticket(state, event, now)
    elif isinstance(event, AccountEvent):
        result = on_account(state, event, now, book)
    else:
        result = on_offer_response(state, event, now, book)
    if now >= state.next_expiry:  # offers whose time ran out by this event
        ended = apply_changes(state, expired(state, now, book), now)
        result = result._replace(outcomes=result.outcomes + ended)
    # The handler has applied its decision; the event id is written with it.
    if now > state.seen_at:
        state.seen_at = now
    state.remember_event(fingerprint)
    if moves_timers:
        try:
            refresh_timers(state, book)
        except Exception as exc:  # a bug: the event stays applied, its timers wait
            state.timers = {}
            return result._replace(timer_error=type(exc).__name__)
    elif watch is not None and state.timers:
        watch.postpone_quiet_counts(state, now)
    return result


class _ReadingWatch:
    """Whether a usage reading moves a due time, told cheaply: most readings move
    none, and recomputing every timer per reading would triple its cost.

    A reading moves the timers of timed triggers whose `when:` reads its metric
    only when one of those conditions changes its answer, and starts the count of
    an inactivity trigger only when no count was running: the account's first
    reading, or the first after a quiet spell was offered. It does not postpone a
    running count: that timer wakes early, finds the count moved, and reschedules."""

    __slots__ = ("_whens", "_held", "_last_usage", "_inactivity")

    def __init__(self, state: AccountState, metric: str, now: float, book: RuleBook) -> None:
        self._whens = book.timer_whens.get(metric, ())
        self._held = [when.holds(state, now) for when in self._whens]
        self._last_usage = state.last_usage_at
        self._inactivity = book.usage_timers

    def moved_timers(self, state: AccountState, now: float) -> bool:
        if self._whens and self._held != [when.holds(state, now) for when in self._whens]:
            return True
        last = self._last_usage
        if last is None:
            return bool(self._inactivity)
        spells = state.fired_windows
        return any(spells.get(trigger_id) == last + seconds
                   for trigger_id, seconds in self._inactivity)

    def postpone_quiet_counts(self, state: AccountState, now: float) -> None:
        """A running quiet count cannot end before this reading + its days: move its
        timer there, without recomputing it. Still early or exact, never late (a
        guard may hold it later; the wake then reschedules), and it spares an
        active account a wake per count that would make no offer."""
        timers = state.timers
        for trigger_id, seconds in self._inactivity:
            due = timers.get(trigger_id)
            if due is not None and due < now + seconds:
                timers[trigger_id] = now + seconds


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
        counter = add_to_period(state.counters.get(metric), event.delta or 0.0, now,
                                state.signed_up_at)
        if counter is None:
            return NOTHING  # belongs to a billing period that has ended
        value = counter[0]
    signal = (METRIC, metric)
    triggers = book.listeners.get(signal)
    choice = None
    if triggers:
        limits = book.plan_limits.get(state.plan) if state.plan is not None else None
        limit = limits.get(metric) if limits is not None else None
        choice = _decide(triggers, state, event, signal, value, limit, now, book)
    keep_days = book.history_days.get(metric)
    samples = with_sample(state.samples.get(metric), now, value, keep_days) if keep_days else None
    # Apply.
    if counter is None:
        state.gauges[metric] = (value, now)
    else:
        state.counters[metric] = counter
    if samples is not None:
        state.samples[metric] = samples
    if state.last_usage_at is None or now > state.last_usage_at:
        state.last_usage_at = now
    return NOTHING if choice is None else choice.apply(state, book)


def _on_score(state: AccountState, event: ScoreEvent, now: float, book: RuleBook) -> Evaluation:
    low = book.rules.guards.low_score
    low_score_until = state.low_score_until
    if low is not None and event.type == low.score_type and event.score <= low.at_most:
        low_score_until = max(low_score_until, now + low.silence_days * DAY)
    signal = (SCORE, event.type)
    triggers = book.listeners.get(signal)
    # The silence starts with this score, so it holds back what the score itself fires.
    choice = _decide(
        triggers, state, event, signal, event.score, None, now, book, low_score_until
    ) if triggers else None
    # Apply.
    state.low_score_until = low_score_until
    if event.type in book.tracked_scores:
        state.scores[event.type] = (event.score, now)
    return NOTHING if choice is None else choice.apply(state, book)


def _on_signal(
    state: AccountState, event: Event, signal: Signal, now: float, book: RuleBook
) -> Evaluation:
    """Events whose only effect is what they fire (feature gates, milestones, churn signals)."""
    triggers = book.listeners.get(signal)
    choice = _decide(triggers, state, event, signal, 0.0, None, now, book) if triggers else None
    # Apply.
    key = f"{signal[0]}:{signal[1]}"
    if key in book.tracked_signals:
        state.signals_at[key] = max(now, state.signals_at.get(key, now))
    return NOTHING if choice is None else choice.apply(state, book)


def _decide(
    triggers: tuple[Trigger, ...],
    state: AccountState,
    event: Event,
    signal: Signal,
    value: float,
    limit: float | None,
    now: float,
    book: RuleBook,
    low_score_until: float = float("-inf"),
) -> Choice | None:
    """The conditions listening on the event's signal: which fire, which re-arm,
    and which of those that fire become offers (None: nothing to apply)."""
    firings: list[Firing] = []
    levels: list[tuple[str, int]] = []  # levels it fell below: they can fire again
    fired_levels = state.fired_levels
    for trigger in triggers:
        level = trigger.condition.level(state, signal, value, limit, now)
        when = trigger.when
        if trigger.remembers:
            fired = fired_levels.get(trigger.id, NOT_MET)
            if level > fired:
                # Outside its segment a trigger does not fire, and keeps its crossing.
                if when is None or when.holds(state, now):
                    # A history kind's reason counts from a baseline or a trend: its `anchor`.
                    anchor = getattr(trigger.condition, "anchor", None)
                    firings.append(Firing(trigger, level, value, limit,
                                          None if anchor is None else anchor(state, value, now)))
            elif level < fired:
                levels.append((trigger.id, level))
        elif level != NOT_MET and (when is None or when.holds(state, now)):
            firings.append(Firing(trigger, level, value, limit))
    if not firings:
        return Choice([], [], [], levels) if levels else None
    return choose(state, firings, levels, event.event_id, event.occurred_at, now, book,
                  Pending(low_score_until=low_score_until))
