"""Counting what evaluations did: the numbers behind "is this trigger any good?"."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from triggers.decide import Evaluation


@dataclass
class Tally:
    """Offers and outcomes per trigger, holds per guard, and events set aside."""

    duplicates: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # by reason
    offers: Counter[str] = field(default_factory=Counter)  # by trigger
    conversions: Counter[str] = field(default_factory=Counter)  # by trigger, offered group
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trigger, status)
    expansion_mrr: dict[str, float] = field(default_factory=dict)  # by trigger, offered group
    suppressed: Counter[str] = field(default_factory=Counter)  # by guard

    def add(self, result: Evaluation) -> None:
        if result.duplicate:
            self.duplicates += 1
        if result.ignored is not None:
            self.ignored[result.ignored] += 1
        for suppression in result.suppressed:
            self.suppressed[suppression.guard] += 1
        for outcome in result.outcomes:
            trigger_id = outcome.trigger_id or "unknown_offer"
            self.outcomes[(trigger_id, outcome.status)] += 1
            if outcome.status == "converted" and outcome.group == "offered":
                self.conversions[trigger_id] += 1
                mrr = self.expansion_mrr.get(trigger_id, 0.0) + (outcome.expansion_mrr or 0.0)
                self.expansion_mrr[trigger_id] = mrr
        for offer in result.offers:
            self.offers[offer.trigger_id] += 1
