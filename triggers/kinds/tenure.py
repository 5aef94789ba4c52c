"""tenure: a window of the account's life, e.g. 90 to 180 days after signup ("3-6
months after the initial purchase", when customers are most receptive). Fires
once, at the first moment in the window when no guard holds it back (the end
of a guard is itself a due time), and never after the window closes. With
`since: plan_change` the window counts from when the current plan began, so a
new plan opens a new window."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.offers import Reason
from schemas.rules import RulesFile, TenureTrigger
from triggers.conditions import OnTime, Window
from triggers.kinds.registry import register
from triggers.periods import DAY
from triggers.state import AccountState
from triggers.trigger import Firing
from triggers.wording import format_number, reason_with


@dataclass(frozen=True, slots=True)
class TenureWindow(OnTime):
    from_seconds: float
    to_seconds: float
    since_plan_change: bool
    trigger_id: str

    def window(self, state: AccountState, after: float) -> Window | None:
        anchor = state.plan_since if self.since_plan_change else state.signed_up_at
        if anchor is None:
            return None
        start, end = anchor + self.from_seconds, anchor + self.to_seconds
        if end <= after or start <= state.fired_windows.get(self.trigger_id, float("-inf")):
            return None
        return Window(start, end, start, anchor)


@dataclass(frozen=True, slots=True)
class Tenure:
    condition: TenureWindow

    @classmethod
    def compile(cls, spec: TenureTrigger, rules: RulesFile) -> Tenure:
        return cls(TenureWindow(
            spec.from_days * DAY, spec.to_days * DAY, spec.since == "plan_change", spec.id
        ))

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        assert firing.anchor is not None
        days = round((firing.value - firing.anchor) / DAY)
        text = (f"{format_number(days)} days on the {plan_name} plan"
                if self.condition.since_plan_change
                else f"{format_number(days)} days since you signed up")
        return reason_with(text=text, tenure_days=days)


register("tenure", TenureTrigger, Tenure.compile)
