"""usage_drop: a gauge falling by at least X% from its highest level within D days
("seats fell from 40 to 12 (-70%) in the last 30 days"): a usage collapse, a churn
signal. Usually a down-sell, offered before the account leaves.

The fall is measured from the highest level of the window (the daily samples
before this reading, and the level carried into the window: see
triggers/history.py) to this reading. Once per collapse: re-armed once the
fall is no longer met within the window (usage recovered, or the peak left it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.offers import Reason
from schemas.rules import RulesFile, UsageDropTrigger
from triggers.conditions import MET, METRIC, NOT_MET, Signal
from triggers.history import day_of, highest_over
from triggers.kinds.growth import change_reason
from triggers.kinds.registry import register
from triggers.kinds.usage_threshold import UsageWords
from triggers.state import AccountState
from triggers.trigger import Firing


@dataclass(frozen=True, slots=True)
class FellBy:
    """A gauge at least `by_percent` below its highest level of the last
    `history_days` days."""

    metric: str
    by_percent: float
    history_days: int  # the window; the rule book keeps this many days of samples
    remembers: bool = field(default=True, init=False)

    @property
    def listens_on(self) -> tuple[Signal, ...]:
        return ((METRIC, self.metric),)

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        peak = self.anchor(state, value, now)
        if peak is None or peak <= 0:
            return NOT_MET  # nothing to fall from
        # Integer-safe "fall / peak >= by %": 40 to 12 is exactly -70%.
        return MET if (peak - value) * 100 >= self.by_percent * peak else NOT_MET

    def anchor(self, state: AccountState, value: float, now: float) -> float | None:
        """The peak: the highest level of the window before this reading (None: no
        reading yet). What the reason counts the fall from."""
        samples = state.samples.get(self.metric)
        if not samples:
            return None
        return highest_over(samples, day_of(now), self.history_days)


@dataclass(frozen=True, slots=True)
class UsageDrop:
    condition: FellBy
    label: str

    @classmethod
    def compile(cls, spec: UsageDropTrigger, rules: RulesFile) -> UsageDrop:
        condition = FellBy(spec.metric, spec.by_percent, spec.within_days)
        return cls(condition, UsageWords.of(spec.metric, rules).label)

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        condition = self.condition
        return change_reason(self.label, "fell", condition.metric, firing.value, firing.anchor,
                             condition.history_days, percent=True)


register("usage_drop", UsageDropTrigger, UsageDrop.compile)
