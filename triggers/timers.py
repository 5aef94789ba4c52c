"""Timed triggers: when each one is due, and what happens when the clock gets there.

A timed trigger (before_renewal, tenure, inactivity) fires with no event. Its
condition names windows of time (triggers/conditions.py, `Window`); the due
time is the first moment in the next window at which it can fire: not before
the latest event the account applied (the state says nothing about earlier
moments), inside its segment (`when:`), and with no guard holding it back. A
guard that holds it moves the due time to the guard's end; one that only an
event can end (an open ticket) leaves no due time until that event comes,
which recomputes the timers (decide.py).

The account keeps its due times in `timers`; the partition's `Schedule` indexes
them, and the sweep calls `wake` for an account once its earliest is due. A due
time may be early (inactivity is not moved by every usage reading; `wake`
finds it moved and reschedules), never late.

A timed offer is made at its due time, not at the time of the sweep: its
`created_at` and `caused_by` ("due:<RFC 3339>") say when, and its id comes from
(account, trigger, due time), so a sweep run again after a crash makes the same
offer with the same id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.offers import Offer
from schemas.outcomes import Outcome
from triggers.choose import choose
from triggers.conditions import MET, TimedCondition, Window
from triggers.evaluation import NOTHING, Evaluation, Suppression
from triggers.lifecycle import apply_changes, expired
from triggers.offers import due_cause
from triggers.pending import Pending
from triggers.rulebook import RuleBook
from triggers.state import AccountState
from triggers.trigger import Firing, Trigger

INFINITY = float("inf")

# Steps to find a due time (each moves it past a window's start, a segment's
# change or a guard's end), and timed offers per wake: bounds that real rules
# never reach, so that a rules file cannot make a wake loop.
MAX_STEPS = 16
MAX_FIRES = 16

NO_PENDING = Pending()
NOT_HELD = ("nothing_to_offer", "superseded")  # suppressions that are not a guard


def next_due(trigger: Trigger, state: AccountState, book: RuleBook) -> tuple[float, Window] | None:
    """The first moment the timed `trigger` can fire for this account, and in which
    window; None: not until an event changes the account."""
    # Checked once, when the rule book compiled it (book.timed): an isinstance of a
    # runtime-checkable Protocol walks its members, ~20 us, on every call.
    condition: TimedCondition = trigger.condition  # type: ignore[assignment]
    target = book.target_for(trigger.offer, state.plan, state.addons)
    if target is None:
        return None  # nothing to offer this plan: a subscription event recomputes
    when = trigger.when
    t = state.seen_at
    for _ in range(MAX_STEPS):
        window = condition.window(state, t)
        if window is None:
            return None
        if t < window.start:
            t = window.start
        if when is not None and not when.holds(state, t):
            changes = when.changes_at(state, t)
            if changes is None:
                return None
            t = max(changes, t)
            continue
        for guard in trigger.guards:
            if guard.holds_back(state, NO_PENDING, trigger.id, target.key, t):
                t = guard.until(state, trigger.id, target.key, t)
                break
        else:
            return t, window
        if t == INFINITY:
            return None
    return None


def refresh_timers(state: AccountState, book: RuleBook) -> None:
    """Recompute the account's due times (after an event, a wake, a restore, new rules)."""
    timers = {}
    for trigger in book.timed:
        due = next_due(trigger, state, book)
        if due is not None:
            timers[trigger.id] = due[0]
    state.timers = timers


def wake(state: AccountState, now: float, book: RuleBook, drop_expired: bool = False) -> Evaluation:
    """Fire the account's timed triggers due by `now`, each at its own due time and
    in time order (one offer's cap and cooldown apply to the next), then reschedule.
    `drop_expired`: an offer that would have expired by `now` is not made (the live
    wall clock after downtime; replay and the event clock make it, dated when due)."""
    offers: list[Offer] = []
    suppressed: list[Suppression] = []
    outcomes: list[Outcome] = []
    upcoming: dict[str, float] | None = None  # the due times, once none is due by now
    for _ in range(MAX_FIRES):
        due: list[tuple[float, Trigger, Window]] = []
        later: dict[str, float] = {}
        for trigger in book.timed:
            found = next_due(trigger, state, book)
            if found is None:
                continue
            if found[0] <= now:
                due.append((found[0], trigger, found[1]))
            else:
                later[trigger.id] = found[0]
        if not due:
            upcoming = later  # what refresh_timers would find: nothing changed since
            break
        at = min(found_at for found_at, _, _ in due)
        windows = {trigger.id: window.key for found_at, trigger, window in due if found_at == at}
        firings = []
        for found_at, trigger, window in due:
            if found_at != at:
                continue
            if drop_expired and at + trigger.offer.valid_for <= now:
                # Its offer would expire before it is sent (the engine was down, or
                # caught up on a long backlog in wall mode): the moment has passed.
                suppressed.append(Suppression(trigger.id, "expired"))
                state.fired_windows[trigger.id] = window.key
                del windows[trigger.id]
            else:
                firings.append(Firing(trigger, MET, at, None, window.anchor))
        if not firings:
            continue
        occurred_at = datetime.fromtimestamp(at, UTC)
        choice = choose(state, firings, [], due_cause(occurred_at), occurred_at, at,
                        book, Pending())
        result = choice.apply(state, book)
        # Decided up to `at`: the next due time is searched from here on, never before
        # (the cap forgets offers a week older than its latest, which would otherwise
        # free a moment that has passed).
        state.seen_at = max(state.seen_at, at)
        # A window is used up by an offer, or by having nothing to offer; one held back
        # (by the cap an offer made a moment ago) is due again when the guard ends.
        held = {s.trigger_id for s in result.suppressed if s.guard not in NOT_HELD}
        state.fired_windows.update(
            (trigger_id, key) for trigger_id, key in windows.items() if trigger_id not in held
        )
        offers.extend(result.offers)
        suppressed.extend(result.suppressed)
        outcomes.extend(result.outcomes)
    if upcoming is None:  # MAX_FIRES reached: some may still be due
        refresh_timers(state, book)
        # Whatever is still due by now could not be decided: it waits for an event.
        upcoming = {trigger_id: at for trigger_id, at in state.timers.items() if at > now}
    state.timers = upcoming
    state.seen_at = max(state.seen_at, now)  # decided up to now: no later search starts earlier
    if now >= state.next_expiry:  # offers whose time ran out by now
        outcomes.extend(apply_changes(state, expired(state, now, book), now))
    if not offers and not suppressed and not outcomes:
        return NOTHING
    return Evaluation(offers=tuple(offers), suppressed=tuple(suppressed), outcomes=tuple(outcomes))

