"""One builder per event type of the contract (v1). Each returns a validated
`Event`: a value the engine would refuse raises InvalidEvent here, in the app,
rather than sending the event to the engine's dead-letter topic.

Every builder takes `event_id` (default: a random one) and `occurred_at` (an
aware datetime or an RFC 3339 string; default: now). Give an event id of your
own (a database row id, say) where the same fact may be sent twice: the engine
drops an id it has seen.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

import orjson

from upsell_client.contract import (
    ContractTerm,
    Response,
    Scale,
    Severity,
    SubscriptionStatus,
    TicketStatus,
)
from upsell_client.errors import InvalidEvent
from upsell_client.validation import check_event

Time = datetime | str


@dataclass(frozen=True, slots=True)
class Event:
    """A validated event: its JSON object and the bytes sent. Made by the builders
    of this module (or `from_fields`), which check it first."""

    fields: Mapping[str, Any]
    json: bytes

    @property
    def account_id(self) -> str:
        return str(self.fields["account_id"])

    @property
    def event_id(self) -> str:
        return str(self.fields["event_id"])

    @property
    def type(self) -> str:
        return str(self.fields["type"])


def from_fields(fields: Mapping[str, Any]) -> Event:
    """An event from a JSON object built by hand. Extra fields are kept (the
    engine ignores them); the contract's fields are checked as the engine does."""
    check_event(fields)
    copied = dict(fields)
    try:
        raw = orjson.dumps(copied)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate in a string
        raise InvalidEvent("(event): cannot be written as JSON (UTF-8)") from None
    return Event(MappingProxyType(copied), raw)


def _event(kind: str, account_id: str, event_id: str | None, occurred_at: Time | None,
           **fields: Any) -> Event:
    return from_fields({
        "event_id": uuid.uuid4().hex if event_id is None else event_id,
        "account_id": account_id,
        "type": kind,
        "occurred_at": rfc3339(datetime.now(UTC) if occurred_at is None else occurred_at),
        **fields,
    })


def rfc3339(when: Time) -> str:
    """An aware datetime as RFC 3339 ("Z" for UTC); a string as it is. A naive
    datetime gives a string with no zone, which the check refuses."""
    if isinstance(when, str):
        return when
    text = when.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def usage_gauge(account_id: str, metric: str, value: float, *, event_id: str | None = None,
                occurred_at: Time | None = None) -> Event:
    """A gauge reading: the level now (seats in use, GB stored)."""
    return _event("usage", account_id, event_id, occurred_at, metric=metric, value=value)


def usage_counter(account_id: str, metric: str, delta: float, *, event_id: str | None = None,
                  occurred_at: Time | None = None) -> Event:
    """A counter: the amount used since the last event (API calls); added up per billing period."""
    return _event("usage", account_id, event_id, occurred_at, metric=metric, delta=delta)


def subscription(account_id: str, plan: str, *, addons: Sequence[str] = (),
                 started_at: Time | None = None, renews_at: Time | None = None,
                 status: SubscriptionStatus = "active", event_id: str | None = None,
                 occurred_at: Time | None = None) -> Event:
    """The account's plan and add-ons now: send it on signup and on every change.
    `status="cancelled"`: the account left (`plan` is the one it left); a later
    active subscription brings it back."""
    times = {name: rfc3339(when) for name, when in
             (("started_at", started_at), ("renews_at", renews_at)) if when is not None}
    return _event("subscription", account_id, event_id, occurred_at, plan=plan,
                  addons=list(addons), **times, status=status)


def feature_gate(account_id: str, feature: str, *, event_id: str | None = None,
                 occurred_at: Time | None = None) -> Event:
    """A user tried a feature the account's plan does not include."""
    return _event("feature_gate", account_id, event_id, occurred_at, feature=feature)


def milestone(account_id: str, name: str, *, event_id: str | None = None,
              occurred_at: Time | None = None) -> Event:
    """A success: project_completed, goal_achieved, ..."""
    return _event("milestone", account_id, event_id, occurred_at, name=name)


def score(account_id: str, scale: Scale, value: float, *, event_id: str | None = None,
          occurred_at: Time | None = None) -> Event:
    """A score on a scale: nps, csat or health_score."""
    return _event(scale, account_id, event_id, occurred_at, score=value)


def ticket(account_id: str, ticket_id: str, status: TicketStatus, *, severity: Severity = "normal",
           event_id: str | None = None, occurred_at: Time | None = None) -> Event:
    """A support ticket opened or resolved (severe open tickets hold offers back)."""
    return _event("ticket", account_id, event_id, occurred_at, ticket_id=ticket_id, status=status,
                  severity=severity)


def churn_signal(account_id: str, name: str, *, event_id: str | None = None,
                 occurred_at: Time | None = None) -> Event:
    """A sign the account may leave: downgrade_intent, cancellation_started, ..."""
    return _event("churn_signal", account_id, event_id, occurred_at, name=name)


class _Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


UNCHANGED = _Unchanged.UNCHANGED
"""An account attribute left as it is (None removes it)."""
Keep = Literal[_Unchanged.UNCHANGED]


def account(account_id: str, *, industry: str | Keep | None = UNCHANGED,
            employees: int | Keep | None = UNCHANGED, country: str | Keep | None = UNCHANGED,
            contract_term: ContractTerm | Keep | None = UNCHANGED,
            traits: Mapping[str, str | float | bool | None] | None = None,
            event_id: str | None = None, occurred_at: Time | None = None) -> Event:
    """What the account is, for segments: an attribute given replaces it, None removes
    it, one not given stays as it was; the same for each trait (at most 32)."""
    given: dict[str, Any] = {name: value for name, value in (
        ("industry", industry), ("employees", employees), ("country", country),
        ("contract_term", contract_term)) if value is not UNCHANGED}
    if traits is not None:
        given["traits"] = dict(traits)
    return _event("account", account_id, event_id, occurred_at, **given)


def offer_response(account_id: str, offer_id: str, response: Response, *,
                   event_id: str | None = None, occurred_at: Time | None = None) -> Event:
    """What happened to an offer. Prefer `respond(offer, ...)`: it takes the ids
    from the offer itself."""
    return _event("offer_response", account_id, event_id, occurred_at, offer_id=offer_id,
                  response=response)


def respond(offer: Mapping[str, Any] | bytes | str, response: Response, *,
            occurred_at: datetime | None = None) -> Event:
    """The offer_response event for an offer as read from the offers topic (its JSON
    or the decoded object), at `occurred_at` (when the user acted; default: now, to
    the second). Its event id is derived, never made up: from the offer, the
    response and the moment, as the engine's HTTP ingest derives it, so a report
    repeated for the same moment (a retry, a second path) is dropped by the engine."""
    fields = orjson.loads(offer) if isinstance(offer, bytes | str) else offer
    if not isinstance(fields, Mapping):
        raise InvalidEvent("(offer): should be an object with 'offer_id' and 'account_id'")
    # Taken as they are (a missing or odd one is refused by name), not coerced.
    ids = {name: fields[name] for name in ("account_id", "offer_id") if name in fields}
    when = datetime.now(UTC).replace(microsecond=0) if occurred_at is None else occurred_at
    checked = _event("offer_response", ids.pop("account_id", None), "pending", when, **ids,
                     response=response)
    event_id = response_event_id(checked.fields["offer_id"], response, when)
    return from_fields({**checked.fields, "event_id": event_id})


RESPONSE_ID_PREFIX = "resp1-"  # names the version of the derivation


def response_event_id(offer_id: str, response: str, occurred_at: datetime) -> str:
    """`resp1-` and 32 hex digits of BLAKE2b over the offer id, the response and the
    moment (UTC, ISO 8601), separated by U+001F: the engine's derivation (a contract,
    pinned by golden ids in the engine's tests and this package's)."""
    moment = occurred_at.astimezone(UTC).isoformat()
    key = f"{offer_id}\x1f{response}\x1f{moment}".encode()
    return RESPONSE_ID_PREFIX + hashlib.blake2b(key, digest_size=16).hexdigest()
