"""Events that change what the account is: its subscription (and the offers an
upgrade converts), its attributes, its support tickets, and what became of the
offers it was sent. Each handler decides, then applies in one block at its end
(see decide.py).

Of all triggers, only segments fire on these events (account and subscription
events may move the account into one, triggers/kinds/segment.py). A segment is
decided on a shallow copy of the state holding what the event changes, so it
sees the account as the event leaves it while the state itself stays untouched
until the end.
"""

from __future__ import annotations

from schemas.events import (
    ACCOUNT_FIELDS,
    MAX_TRAITS,
    AccountEvent,
    Event,
    OfferResponseEvent,
    SubscriptionEvent,
    TicketEvent,
)
from triggers.choose import Choice, choose
from triggers.conditions import NOT_MET, Signal
from triggers.evaluation import NOTHING, Evaluation
from triggers.kinds.segment import ACCOUNT_CHANGED, SUBSCRIPTION_CHANGED, Segment
from triggers.lifecycle import UNKNOWN_OFFER, after_plan_change, apply_changes, on_response
from triggers.pending import Pending
from triggers.rulebook import DAY, RuleBook
from triggers.state import TICKET_HISTORY, AccountState
from triggers.trigger import Firing

Attributes = dict[str, str | float | bool]


def on_subscription(
    state: AccountState, event: SubscriptionEvent, now: float, book: RuleBook
) -> Evaluation:
    if now < state.plan_at:
        return NOTHING  # an older subscription state arriving late
    cancelled = event.status == "cancelled"
    # A cancelled account has no plan: nothing is offered until it comes back.
    plan = None if cancelled else event.plan
    addons = () if cancelled else tuple(sorted(set(event.addons)))  # each add-on once
    ignored = None if event.plan in book.rules.plans else f"unknown plan '{event.plan}'"
    changes = after_plan_change(state, plan, addons, now, event.event_id, book, cancelled)
    started_at = event.started_at.timestamp() if event.started_at is not None else None
    signed_up_at = started_at if started_at is not None else state.signed_up_at
    plan_since = state.plan_since
    if plan != state.plan or plan_since is None:
        # A first subscription began at signup, if it says when; a change, now.
        plan_since = started_at if state.plan is None and started_at is not None else now
    renews_at = event.renews_at.timestamp() if event.renews_at is not None else None
    choice = None
    if SUBSCRIPTION_CHANGED in book.listeners:
        after = _copy(state)
        after.plan, after.addons, after.plan_at = plan, addons, now
        after.signed_up_at, after.plan_since, after.renews_at = signed_up_at, plan_since, renews_at
        choice = _enter_segments(after, event, SUBSCRIPTION_CHANGED, now, book)
    # Apply.
    state.signed_up_at = signed_up_at
    state.plan, state.addons, state.plan_at = plan, addons, now
    state.plan_since = plan_since
    state.renews_at = renews_at
    outcomes = apply_changes(state, changes, now)
    entered = NOTHING if choice is None else choice.apply(state, book)
    if not outcomes and ignored is None:
        return entered
    return entered._replace(ignored=ignored, outcomes=outcomes + entered.outcomes)


def on_account(state: AccountState, event: AccountEvent, now: float, book: RuleBook) -> Evaluation:
    """New attributes, and the segments they move the account into."""
    if now < state.attributes_at:
        return NOTHING  # an older account event arriving late does not roll them back
    attributes, dropped = _attributes_after(state.attributes, event)
    choice = None
    if ACCOUNT_CHANGED in book.listeners:
        after = _copy(state)
        after.attributes = attributes
        choice = _enter_segments(after, event, ACCOUNT_CHANGED, now, book)
    # Apply.
    state.attributes = attributes
    state.attributes_at = now
    entered = NOTHING if choice is None else choice.apply(state, book)
    if dropped:
        return entered._replace(
            ignored=f"{dropped} new traits not kept: an account keeps at most {MAX_TRAITS}"
        )
    return entered


def _copy(state: AccountState) -> AccountState:
    """A shallow copy, slot by slot: dataclasses.replace runs __init__ over every
    field, twice the time, on every account and subscription event."""
    copy = object.__new__(AccountState)
    for name in AccountState.__slots__:
        setattr(copy, name, getattr(state, name))
    return copy


def _attributes_after(current: Attributes, event: AccountEvent) -> tuple[Attributes, int]:
    """The attributes once the event is applied, and how many new traits did not fit.

    A field or trait present replaces the attribute and null removes it. Traits are
    bounded (MAX_TRAITS, plus the four fields): removals are made first, so that a
    full account can swap one trait for another in one event, and a new trait that
    does not fit is dropped, never an older one.
    """
    attributes = dict(current)
    given = event.model_fields_set
    for name in ACCOUNT_FIELDS:
        if name in given:
            value = getattr(event, name)
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
    traits = event.traits
    for key, value in traits.items():
        if value is None:
            attributes.pop(key, None)
    room = MAX_TRAITS - sum(1 for key in attributes if key not in ACCOUNT_FIELDS)
    dropped = 0
    for key, value in traits.items():
        if value is None:
            continue
        if key in attributes:
            attributes[key] = value
        elif room > 0:
            attributes[key] = value
            room -= 1
        else:
            dropped += 1
    return attributes, dropped


def _enter_segments(
    after: AccountState, event: Event, signal: Signal, now: float, book: RuleBook
) -> Choice | None:
    """The segments listening on `signal` that the account enters (fire) or leaves
    (re-armed), judged on `after`, the account as the event leaves it. Once per
    entry, as a usage level is once per crossing (decide._decide): the account
    keeps the level it fired at in `fired_levels`.

    An account with no subscription yet has nothing to be offered: its segments
    wait for its first subscription event rather than use up the entry."""
    if after.plan is None:
        return None
    firings = []
    levels: list[tuple[str, int]] = []
    fired_levels = after.fired_levels
    for trigger in book.listeners[signal]:
        level = trigger.condition.level(after, signal, 0.0, None, now)
        fired = fired_levels.get(trigger.id, NOT_MET)
        if level > fired:
            kind = trigger.kind
            value, limit = kind.measure(after, now) if isinstance(kind, Segment) else (0.0, None)
            firings.append(Firing(trigger, level, value, limit))
        elif level < fired:
            levels.append((trigger.id, level))
    if not firings:
        return Choice([], [], [], levels) if levels else None
    return choose(after, firings, levels, event.event_id, event.occurred_at, now, book, Pending())


def on_ticket(state: AccountState, event: TicketEvent, now: float) -> Evaluation:
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


def on_offer_response(
    state: AccountState, event: OfferResponseEvent, now: float, book: RuleBook
) -> Evaluation:
    record, changes, unknown = on_response(state, event, now, book)
    if record is None:
        return Evaluation(ignored=UNKNOWN_OFFER, outcomes=(unknown,) if unknown else ())
    response = event.response
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
    outcomes = apply_changes(state, changes, now)
    if silenced is not None:
        state.silenced = silenced
    return Evaluation(outcomes=outcomes) if outcomes else NOTHING
