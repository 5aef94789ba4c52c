"""Outcomes, contract v1: what became of each offer, on the `upsell-outcomes` topic.

One record per change in an offer's life, keyed by account like the offers (same
partition count), written through the same checkpoint as the offers. In-app
messaging reads `withdrawn` to stop showing an offer that no longer fits; the
growth team's report (`upsell report`) reads them all. `outcome_id` is
deterministic (offer and status), so a reader can drop the rare duplicate.

A lifecycle, in order: `made` (sent to the offers topic) or `held_out` (the
account is in the control group: decided like any offer, never sent), then
`shown`, then `accepted` / `declined` / `dismissed`; `converted` (an upgrade
within the conversion window, credited to one offer), `expired`, `withdrawn`
(a plan change made it moot, or another offer got the credit); `churned` (a
downgrade or cancellation soon after a conversion) comes after `converted`.
`unknown_offer`: a response naming an offer the account does not know.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.offers import OfferKind

OutcomeStatus = Literal[
    "made", "held_out", "shown", "accepted", "declined", "dismissed",
    "converted", "expired", "withdrawn", "churned", "unknown_offer",
]
Group = Literal["offered", "held_out"]


class Outcome(BaseModel):
    """One change in one offer's life."""

    model_config = ConfigDict(frozen=True)

    outcome_id: str = Field(description="Deterministic: the offer and the status.")
    offer_id: str
    account_id: str
    trigger_id: str | None = Field(description="None only for unknown_offer.")
    kind: OfferKind | None = None
    recommended: str | None = Field(
        default=None, description="What the offer is for: 'plan:pro' or 'addon:reports'."
    )
    status: OutcomeStatus
    group: Group | None = Field(
        default=None, description="offered, or held_out for the control group."
    )
    at: AwareDatetime = Field(description="Event time of the change (an expiry: its time).")
    caused_by: str = Field(description="The event that made the change, or 'due:<time>'.")
    expires_at: AwareDatetime | None = Field(default=None, description="Set on made/held_out.")
    plan_before: str | None = Field(default=None, description="converted, withdrawn, churned.")
    plan_after: str | None = None
    expansion_mrr: float | None = Field(
        default=None,
        description="converted: monthly price after minus before (plan and add-ons, from the "
                    "plan catalogue); None when a price is custom.",
    )
    detail: str | None = Field(
        default=None, description="Why, in words: 'another offer was credited', 'downgrade'."
    )
    rules_version: str
    schema_version: Literal[1] = 1
