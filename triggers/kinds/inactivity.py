"""inactivity: no usage for N days ("no activity in 21 days"), a churn signal
that needs no event, found by the sweep. Counted from the last usage reading,
or, for an account that never sent one, from signup or its latest subscription
event, whichever is later. Once per quiet spell: a
new reading starts the count again. Usually a down-sell."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.offers import Reason
from schemas.rules import InactivityTrigger, RulesFile
from triggers.conditions import OnTime, Window
from triggers.kinds.registry import register
from triggers.periods import DAY
from triggers.state import AccountState
from triggers.trigger import Firing
from triggers.wording import format_number, reason_with


@dataclass(frozen=True, slots=True)
class QuietFor(OnTime):
    seconds: float
    trigger_id: str
    counts_from_usage: bool = field(default=True, init=False)  # a reading starts its count

    def window(self, state: AccountState, after: float) -> Window | None:
        last_active = state.last_usage_at
        if last_active is None:
            # Never a reading: count from signup, but not from before the engine
            # learned of the subscription (an old account is not idle for the
            # years before its first event).
            if state.signed_up_at is None:
                return None
            last_active = max(state.signed_up_at, state.plan_at)
        start = last_active + self.seconds
        if start <= state.fired_windows.get(self.trigger_id, float("-inf")):
            return None  # this spell already fired
        return Window(start, float("inf"), start, last_active)


@dataclass(frozen=True, slots=True)
class Inactivity:
    condition: QuietFor

    @classmethod
    def compile(cls, spec: InactivityTrigger, rules: RulesFile) -> Inactivity:
        return cls(QuietFor(spec.days * DAY, spec.id))

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        assert firing.anchor is not None
        days = round((firing.value - firing.anchor) / DAY)
        return reason_with(text=f"no activity in {format_number(days)} days", window_days=days)


register("inactivity", InactivityTrigger, Inactivity.compile)
