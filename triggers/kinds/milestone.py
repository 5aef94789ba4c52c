"""milestone: right after a success moment ("reached a milestone: project
completed"), when acceptance is highest."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.offers import Reason
from schemas.rules import MilestoneTrigger, RulesFile
from triggers.conditions import MILESTONE, Happened
from triggers.kinds.registry import register
from triggers.trigger import Firing
from triggers.wording import reason_with, words


@dataclass(frozen=True, slots=True)
class Milestone:
    condition: Happened
    name: str

    @classmethod
    def compile(cls, spec: MilestoneTrigger, rules: RulesFile) -> Milestone:
        return cls(Happened((MILESTONE, spec.name)), spec.name)

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        return reason_with(text=f"reached a milestone: {words(self.name)}", milestone=self.name)


register("milestone", MilestoneTrigger, Milestone.compile)
