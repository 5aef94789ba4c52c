"""limit_reached: a metric reaches 100% of the plan's limit ("10 of 10 seats used
(100%): the Basic plan's limit is reached"). A usage threshold at one level,
worded for the moment the customer feels the limit."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.offers import Reason
from schemas.rules import LimitReachedTrigger, RulesFile
from triggers.conditions import UsageAtLevel
from triggers.kinds.registry import register
from triggers.kinds.usage_threshold import UsageWords
from triggers.trigger import Firing

FULL = (100.0,)


@dataclass(frozen=True, slots=True)
class LimitReached:
    condition: UsageAtLevel
    wording: UsageWords

    @classmethod
    def compile(cls, spec: LimitReachedTrigger, rules: RulesFile) -> LimitReached:
        return cls(UsageAtLevel(spec.metric, FULL), UsageWords.of(spec.metric, rules))

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        return self.wording.reason(
            self.condition, firing, after=f": the {plan_name} plan's limit is reached"
        )


register("limit_reached", LimitReachedTrigger, LimitReached.compile)
