"""Events that change what the account is and fire nothing: its subscription
(and the offers an upgrade converts), its support tickets, and what became of
the offers it was sent. Each handler decides, then applies in one block at its
end (see decide.py)."""

from __future__ import annotations

from schemas.events import OfferResponseEvent, SubscriptionEvent, TicketEvent
from triggers.evaluation import NOTHING, Evaluation
from triggers.rulebook import DAY, RuleBook
from triggers.state import TICKET_HISTORY, AccountState, OfferRecord


def on_subscription(
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
    started_at = event.started_at.timestamp() if event.started_at is not None else None
    plan_since = state.plan_since
    if plan != state.plan or plan_since is None:
        # A first subscription began at signup, if it says when; a change, now.
        plan_since = started_at if state.plan is None and started_at is not None else now
    # Apply.
    if started_at is not None:
        state.signed_up_at = started_at
    state.plan, state.addons, state.plan_at = plan, addons, now
    state.plan_since = plan_since
    state.renews_at = event.renews_at.timestamp() if event.renews_at is not None else None
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
