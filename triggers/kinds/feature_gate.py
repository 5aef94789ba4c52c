"""feature_gate: a user tried a feature the plan lacks ("tried advanced analytics,
which the Basic plan does not include"). The offer answers a need just felt."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.offers import Reason
from schemas.rules import FeatureGateTrigger, RulesFile
from triggers.conditions import FEATURE, Happened
from triggers.kinds.registry import register
from triggers.trigger import Firing
from triggers.wording import reason_with, words


@dataclass(frozen=True, slots=True)
class FeatureGate:
    condition: Happened
    feature: str

    @classmethod
    def compile(cls, spec: FeatureGateTrigger, rules: RulesFile) -> FeatureGate:
        return cls(Happened((FEATURE, spec.feature)), spec.feature)

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        return reason_with(
            text=f"tried {words(self.feature)}, which the {plan_name} plan does not include",
            feature=self.feature,
        )


register("feature_gate", FeatureGateTrigger, FeatureGate.compile)
