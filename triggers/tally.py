"""Counting what evaluations did: the numbers behind "is this trigger any good?"."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from triggers.decide import Evaluation


@dataclass
class Tally:
    """Offers and conversions per trigger, holds per guard, and events set aside."""

    duplicates: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # by reason
    offers: Counter[str] = field(default_factory=Counter)  # by trigger
    conversions: Counter[str] = field(default_factory=Counter)  # by trigger
    suppressed: Counter[str] = field(default_factory=Counter)  # by guard

    def add(self, result: Evaluation) -> None:
        if result.duplicate:
            self.duplicates += 1
        if result.ignored is not None:
            self.ignored[result.ignored] += 1
        for suppression in result.suppressed:
            self.suppressed[suppression.guard] += 1
        for record in result.converted:
            self.conversions[record.trigger_id] += 1
        for offer in result.offers:
            self.offers[offer.trigger_id] += 1
