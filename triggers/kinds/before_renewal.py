"""before_renewal: N days before the subscription renews ("your plan renews on
1 June, in 60 days"), the moment to move an account to an annual or higher
plan. Fires with no event, once per renewal date and number of days: with
`days: [60, 30]`, at 60 days before and again at 30. An account that learns of
its renewal 45 days ahead gets the 60-day offer at once (it is within 60
days), not both. A new `renews_at` moves every point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.offers import Reason
from schemas.rules import BeforeRenewalTrigger, RulesFile
from triggers.conditions import OnTime, Window
from triggers.kinds.registry import register
from triggers.periods import DAY
from triggers.state import AccountState
from triggers.trigger import Firing
from triggers.wording import format_number, reason_with


@dataclass(frozen=True, slots=True)
class BeforeRenewal(OnTime):
    """Windows [renewal - d, renewal - next d), the last one ending at the renewal."""

    days: tuple[float, ...]  # decreasing: 60, 30
    trigger_id: str
    # Seconds before the renewal each window starts and ends: ((60 d, 30 d), (30 d, 0)),
    # computed once (window runs at every due time computed).
    spans: tuple[tuple[float, float], ...] = field(init=False)

    def __post_init__(self) -> None:
        starts = [d * DAY for d in self.days]
        object.__setattr__(self, "spans", tuple(zip(starts, [*starts[1:], 0.0], strict=True)))

    def window(self, state: AccountState, after: float) -> Window | None:
        renews_at = state.renews_at
        if renews_at is None:
            return None
        done = state.fired_windows.get(self.trigger_id, float("-inf"))
        for start_before, end_before in self.spans:
            start, end = renews_at - start_before, renews_at - end_before
            if start > done and end > after:
                return Window(start, end, start, renews_at)
        return None


@dataclass(frozen=True, slots=True)
class BeforeRenewalKind:
    condition: BeforeRenewal

    @classmethod
    def compile(cls, spec: BeforeRenewalTrigger, rules: RulesFile) -> BeforeRenewalKind:
        return cls(BeforeRenewal(tuple(spec.days), spec.id))

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        renews_at = firing.anchor
        assert renews_at is not None
        days_left = round((renews_at - firing.value) / DAY)
        date = datetime.fromtimestamp(renews_at, UTC)
        return reason_with(
            text=f"your {plan_name} plan renews on {date.day} {date:%B %Y}, "
                 f"in {format_number(days_left)} days",
            days_left=days_left, renews_at=date,
        )


register("before_renewal", BeforeRenewalTrigger, BeforeRenewalKind.compile)
