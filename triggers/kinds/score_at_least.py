"""score_at_least: a score at or above a value, e.g. a promoter's NPS of 9
("NPS score of 10")."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.offers import Reason
from schemas.rules import RulesFile, ScoreTrigger
from triggers.conditions import ScoreAtLeast
from triggers.kinds.registry import register
from triggers.trigger import Firing
from triggers.wording import format_number, reason_with, words


@dataclass(frozen=True, slots=True)
class HighScore:
    condition: ScoreAtLeast

    @classmethod
    def compile(cls, spec: ScoreTrigger, rules: RulesFile) -> HighScore:
        return cls(ScoreAtLeast(spec.score_type, spec.at_least))

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        score_type = self.condition.score_type
        scale = "NPS" if score_type == "nps" else words(score_type)
        return reason_with(
            text=f"{scale} score of {format_number(firing.value)}",
            score_type=score_type, score=firing.value,
        )


register("score_at_least", ScoreTrigger, HighScore.compile)
