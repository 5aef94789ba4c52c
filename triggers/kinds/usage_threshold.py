"""usage_threshold: a metric crosses a percentage of the plan's limit, once per
crossing, and again after falling below ("8 of 10 seats used (80%)")."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.offers import Reason
from schemas.rules import RulesFile, UsageThresholdTrigger
from triggers.conditions import UsageAtLevel
from triggers.kinds.registry import register
from triggers.trigger import Firing
from triggers.wording import format_number, reason_with, words


@dataclass(frozen=True, slots=True)
class UsageWords:
    """How a metric is named in a reason."""

    label: str  # "seats", "GB of storage"
    period: str  # " this billing period" for a counter, nothing for a gauge

    @classmethod
    def of(cls, metric: str, rules: RulesFile) -> UsageWords:
        known = rules.metrics[metric]
        period = " this billing period" if known.kind == "counter" else ""
        return cls(known.label or words(metric), period)

    def reason(self, condition: UsageAtLevel, firing: Firing, after: str = "") -> Reason:
        """'41 of 50 seats used (82%)', then `after`; the numbers as they were."""
        value, limit = firing.value, firing.limit
        assert limit is not None, "a usage level is only reached under a limit"
        percent = round(value * 100 / limit, 1)
        text = (
            f"{format_number(value)} of {format_number(limit)} {self.label} "
            f"used{self.period} ({format_number(round(percent))}%){after}"
        )
        return reason_with(
            text=text, metric=condition.metric, value=value, limit=limit,
            percent=percent, level=condition.levels[firing.level],
        )


@dataclass(frozen=True, slots=True)
class UsageThreshold:
    condition: UsageAtLevel
    wording: UsageWords

    @classmethod
    def compile(cls, spec: UsageThresholdTrigger, rules: RulesFile) -> UsageThreshold:
        return cls(UsageAtLevel(spec.metric, tuple(spec.levels)), UsageWords.of(spec.metric, rules))

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        return self.wording.reason(self.condition, firing)


register("usage_threshold", UsageThresholdTrigger, UsageThreshold.compile)
