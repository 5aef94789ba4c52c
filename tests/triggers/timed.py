"""A partition driven as replay and the live engine drive it: event JSON through
the real decoder into an `AccountTable`, and its clock moved between events.
Times are days after `T0`, as in tests/factories.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas.events import decode_event
from schemas.offers import Offer
from tests.factories import T0, event_json
from triggers import Evaluation, RuleBook
from triggers.offers import offer_id_for
from triggers.state import AccountState
from triggers.table import AccountTable

SECOND = 1 / 86_400  # a second, in days


def moment(day: float) -> datetime:
    """T0 + `day` days, to the microsecond."""
    return T0 + timedelta(days=day)


def iso(day: float) -> str:
    return moment(day).isoformat()


def due_id(day: float) -> str:
    """What a timed offer due at `day` names as its cause."""
    return "due:" + moment(day).isoformat().replace("+00:00", "Z")


def timed_offer_id(account_id: str, trigger_id: str, day: float) -> str:
    return offer_id_for(account_id, trigger_id, due_id(day))


def offers_of(results: list[Evaluation]) -> list[Offer]:
    return [offer for result in results for offer in result.offers]


def fired_at(offers: list[Offer]) -> list[tuple[str, datetime]]:
    """(trigger, created_at) of each offer, in the order they were made."""
    return [(offer.trigger_id, offer.created_at) for offer in offers]


class Partition:
    """Accounts on one simulated partition (or several), fed events by day."""

    def __init__(self, rules: RuleBook, table: AccountTable | None = None) -> None:
        self.book = rules
        self.table = table if table is not None else AccountTable(rules)
        self.sent = 0

    def results(self, type_: str, account: str = "acme", day: float = 0,
                event_id: str | None = None, **fields: Any) -> list[Evaluation]:
        """Everything the event's arrival did: timers due before it, the event, timers it made due."""
        self.sent += 1
        line = event_json(type_, account, day, event_id or f"{account}-e{self.sent}", **fields)
        return self.table.apply(decode_event(line))

    def send(self, type_: str, account: str = "acme", day: float = 0,
             event_id: str | None = None, **fields: Any) -> list[Offer]:
        return offers_of(self.results(type_, account, day, event_id, **fields))

    def subscribe(self, account: str = "acme", day: float = 0, plan: str = "basic",
                  signed_up_day: float | None = -365, renews_day: float | None = None,
                  **fields: Any) -> list[Offer]:
        if signed_up_day is not None:
            fields["started_at"] = iso(signed_up_day)
        if renews_day is not None:
            fields["renews_at"] = iso(renews_day)
        return self.send("subscription", account, day, plan=plan, **fields)

    def seats(self, value: float, account: str = "acme", day: float = 0) -> list[Offer]:
        return self.send("usage", account, day, metric="seats", value=value)

    def advance(self, day: float) -> list[Offer]:
        """Move every partition's clock to `day`, with no event."""
        return offers_of(self.table.advance(moment(day).timestamp()))

    def state(self, account: str = "acme") -> AccountState:
        return self.table.accounts[account]
