"""Pending: what the event being decided has chosen so far, not yet applied.

The core decides first and changes the account only at the end (so a bug that
raises mid-decision leaves the state as it was). Guards must still see the
account as this event leaves it: an offer chosen a moment ago for a
higher-priority trigger counts toward the account cap, and a low score holds
back the offers its own event fires.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Pending:
    """The parts of an undecided event's outcome that guards look at."""

    offers: int = 0  # offers chosen so far for this event (all at its event time)
    low_score_until: float = float("-inf")  # the low-score silence this event starts
