"""Evaluation: what one event did (the offers it makes, what held triggers back,
what became of earlier offers), as the runtime and the replay tally it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from schemas.offers import Offer
from schemas.outcomes import Outcome


@dataclass(frozen=True, slots=True)
class Suppression:
    """A trigger that fired but was held back, and by what."""

    trigger_id: str
    guard: str  # a guard's name, or nothing_to_offer / superseded


class Evaluation(NamedTuple):
    """What one event did."""

    offers: tuple[Offer, ...] = ()
    suppressed: tuple[Suppression, ...] = ()
    # What became of offers: made, held out, shown, converted, withdrawn, ... (lifecycle.py)
    outcomes: tuple[Outcome, ...] = ()
    duplicate: bool = False  # an event id already applied: the state did not change
    ignored: str | None = None  # why the event could not be used (unknown metric, ...)
    timer_error: str | None = None  # the due times could not be recomputed (a bug): its name

    @property
    def converted(self) -> tuple[Outcome, ...]:
        """The offers this event converted (an upgrade), held-out ones included."""
        return tuple(o for o in self.outcomes if o.status == "converted")


# The runtime tests `result is NOTHING` to skip the tally of most events.
NOTHING = Evaluation()
DUPLICATE = Evaluation(duplicate=True)
