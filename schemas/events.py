"""Usage events, contract v1: what product apps send to the `usage-events` topic.

Every event names its account, its kind (`type`) and when it happened
(`occurred_at`, RFC 3339 with a time zone). Decisions use that event time,
never the clock of the machine that reads the event, so a replay of the same
events gives the same offers.

Decoding is strict (no silent coercion of "41" into 41) and goes straight from
JSON bytes to a model through one cached TypeAdapter, which is the fastest path
pydantic offers. Unknown extra fields are ignored so producers can add fields
before the engine knows them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

CONTRACT_VERSION = 1

Identifier = Annotated[str, Field(min_length=1, max_length=200)]

# Bounds keep a value the contract accepts from breaking the arithmetic behind
# it: an offer expires days after its event, a billing period ends a month on.
EventTime = Annotated[
    AwareDatetime,
    Field(ge=datetime(1970, 1, 1, tzinfo=UTC), le=datetime(2999, 12, 31, tzinfo=UTC)),
]
Amount = Annotated[float, Field(ge=0, le=1e12)]


class EventBase(BaseModel):
    """Fields every event carries."""

    # allow_inf_nan=False: JSON has no Infinity or NaN, but lenient parsers accept them.
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", allow_inf_nan=False)

    event_id: Identifier = Field(description="Unique id of this event; duplicates are dropped.")
    account_id: Identifier = Field(description="The customer account; also the Kafka key.")
    occurred_at: EventTime = Field(description="When it happened (RFC 3339, with time zone).")
    schema_version: Literal[1] = Field(default=1, description="Version of this contract.")


class SubscriptionEvent(EventBase):
    """The account's current plan and add-ons (sent on signup and on every change)."""

    type: Literal["subscription"]
    plan: Identifier
    addons: list[Identifier] = Field(default_factory=list)
    started_at: EventTime | None = Field(
        default=None, description="Signup date; starts the onboarding grace period."
    )
    renews_at: EventTime | None = None


class UsageEvent(EventBase):
    """A metric reading: `value` for a gauge (level now) or `delta` for a counter."""

    type: Literal["usage"]
    metric: Identifier
    value: Amount | None = Field(default=None, description="Gauge: the level now.")
    delta: Amount | None = Field(
        default=None, description="Counter: the amount used since the last event."
    )

    @model_validator(mode="after")
    def _value_or_delta(self) -> UsageEvent:
        if (self.value is None) == (self.delta is None):
            raise ValueError("give exactly one of 'value' (a gauge) or 'delta' (a counter)")
        return self


class FeatureGateEvent(EventBase):
    """A user tried a feature the account's plan does not include."""

    type: Literal["feature_gate"]
    feature: Identifier


class MilestoneEvent(EventBase):
    """A success moment: project completed, goal achieved, ..."""

    type: Literal["milestone"]
    name: Identifier


class ScoreEvent(EventBase):
    """A satisfaction or health score; `type` says which scale."""

    type: Literal["nps", "csat", "health_score"]
    score: Annotated[float, Field(ge=-1e6, le=1e6)]


class TicketEvent(EventBase):
    """A support ticket opened or resolved; severe open tickets hold offers back."""

    type: Literal["ticket"]
    ticket_id: Identifier
    status: Literal["opened", "resolved"]
    severity: Literal["low", "normal", "high", "urgent"] = "normal"


class ChurnSignalEvent(EventBase):
    """A sign the account may leave: downgrade intent, cancellation started, ..."""

    type: Literal["churn_signal"]
    name: Identifier


class OfferResponseEvent(EventBase):
    """What happened to an offer, reported back by in-app messaging."""

    type: Literal["offer_response"]
    offer_id: Identifier
    response: Literal["shown", "accepted", "dismissed", "declined"]


Event = Annotated[
    SubscriptionEvent
    | UsageEvent
    | FeatureGateEvent
    | MilestoneEvent
    | ScoreEvent
    | TicketEvent
    | ChurnSignalEvent
    | OfferResponseEvent,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: tuple[str, ...] = (
    "subscription",
    "usage",
    "feature_gate",
    "milestone",
    "nps",
    "csat",
    "health_score",
    "ticket",
    "churn_signal",
    "offer_response",
)


class InvalidEvent(ValueError):
    """An event that does not follow the contract; `reason` says which field and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_event(raw: bytes | str) -> Event:
    """Parse and validate one JSON event, or raise InvalidEvent naming the field at fault."""
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: `field.path: what is wrong`.

    The offending value is left out on purpose: events carry customer data and
    the reason ends up in logs and in the dead-letter topic's headers.
    """
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        # The discriminator adds the event type as the first path element; keep
        # it, it tells the producer which schema was applied.
        path = ".".join(str(part) for part in error["loc"]) or "(event)"
        problems.append(f"{path}: {error['msg']}")
    return "; ".join(problems)
