"""Offers, contract v1: what the engine publishes to the `upsell-offers` topic.

In-app messaging relies on these fields. `offer_id` is deterministic (the same
decision always has the same id) so a consumer can drop the rare duplicate, and
`reason` carries the customer's own numbers so the message can say
"you use 41 of 50 seats".
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

OfferKind = Literal["upsell", "cross_sell", "down_sell"]


class Reason(BaseModel):
    """Why this offer, in numbers. Only the fields that apply to the trigger are set."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="The reason in plain words, e.g. '41 of 50 seats (82%)'.")
    metric: str | None = None
    value: float | None = None
    limit: float | None = None
    percent: float | None = Field(default=None, description="value / limit * 100, rounded.")
    level: float | None = Field(default=None, description="The threshold crossed, in percent.")
    feature: str | None = None
    milestone: str | None = None
    score_type: str | None = None
    score: float | None = None
    signal: str | None = None
    baseline: float | None = Field(
        default=None, description="Growth or drop: the level the change is measured from."
    )
    window_days: float | None = Field(
        default=None,
        description="Growth or drop: the window the change is measured over; "
                    "inactivity: the days without usage.",
    )
    days_left: float | None = Field(
        default=None, description="Forecast: days until the limit; renewal: days until renewal."
    )
    rate_per_week: float | None = Field(default=None, description="Forecast: the trend, per week.")
    tenure_days: float | None = Field(default=None, description="Days since signup or the plan change.")
    renews_at: AwareDatetime | None = None


class Recommendation(BaseModel):
    """The plan or add-on offered, and what taking it changes."""

    model_config = ConfigDict(frozen=True)

    type: Literal["plan", "addon"]
    id: str
    name: str
    price_monthly: float | None = Field(description="None means custom pricing (talk to sales).")
    changes: list[str] = Field(
        default_factory=list, description="What the upgrade changes, e.g. 'seats: 10 -> 50'."
    )


class Offer(BaseModel):
    """One upgrade prompt for one account."""

    model_config = ConfigDict(frozen=True)

    offer_id: str = Field(description="Deterministic: account, trigger and causing event.")
    account_id: str
    kind: OfferKind
    trigger_id: str
    current_plan: str | None
    recommended: Recommendation
    reason: Reason
    created_at: AwareDatetime = Field(
        description="Event time of the causing event; for a timed offer, its due time."
    )
    expires_at: AwareDatetime
    caused_by: str = Field(
        description="event_id of the event that made this offer, or 'due:<RFC 3339 time>' "
                    "for a timed offer (renewal, tenure, inactivity), made with no event."
    )
    rules_version: str
    priority: int = 0
    schema_version: Literal[1] = 1
