"""churn_signal: a sign the account may leave ("churn signal: cancellation
started"); usually a down-sell, to keep the customer on a cheaper plan."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.offers import Reason
from schemas.rules import ChurnSignalTrigger, RulesFile
from triggers.conditions import CHURN_SIGNAL, Happened
from triggers.kinds.registry import register
from triggers.trigger import Firing
from triggers.wording import reason_with, words


@dataclass(frozen=True, slots=True)
class ChurnSignal:
    condition: Happened
    name: str

    @classmethod
    def compile(cls, spec: ChurnSignalTrigger, rules: RulesFile) -> ChurnSignal:
        return cls(Happened((CHURN_SIGNAL, spec.name)), spec.name)

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        return reason_with(text=f"churn signal: {words(self.name)}", signal=self.name)


register("churn_signal", ChurnSignalTrigger, ChurnSignal.compile)
