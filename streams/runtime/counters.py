"""The engine's counters: plain ints and Counters updated on the hot path (a
dict increment each). The worker's /metrics reads them at scrape time
(streams/worker/metrics.py); nothing here formats or allocates per event.

The runtime may not import prometheus-client (../shared/ARCHITECTURE.md), and
its Histogram takes a lock per observation, so durations are kept in a
`Histogram` of our own: a bisect and two additions, observed per offer, per
checkpoint and per restore, never per event.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from schemas.events import EVENT_TYPES
from triggers.tally import Tally

# What became of a consumed record (the `outcome` label): exactly one each.
APPLIED = "applied"  # decided: the account's state took it
DUPLICATE = "duplicate"  # an event id the account had applied already
IGNORED = "ignored"  # valid, but the rules cannot use it (an unknown metric, ...)
REPLAYED = "replayed"  # at or below the offset already applied (after a restart)
FORWARDED = "forwarded"  # on a partition its account does not hash to
DEAD_LETTERED = "dead_lettered"  # sent to the dead-letter topic
OUTCOMES = (APPLIED, DUPLICATE, IGNORED, REPLAYED, FORWARDED, DEAD_LETTERED)
# The event type of a record that did not decode to an event.
UNDECODED = "unknown"

# Why a record was dead-lettered (the `reason` label of dead letters).
INVALID = "invalid"  # not an event of the contract
FUTURE = "future"  # dated too far past its record's production
NOT_EVALUATED = "not_evaluated"  # the decision core raised (a bug)
TOO_LARGE = "too_large"  # could not be forwarded with its headers

# Bucket bounds, in seconds. Event to offer: a live engine sends within tens of
# milliseconds; a backlog (a restart, a stall) shows up in the tail buckets.
EVENT_TO_OFFER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                          60.0, 300.0)
# A checkpoint flushes and commits every 500 ms; seconds mean a slow broker.
CHECKPOINT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A restore reads a changelog partition to its end: ~15k accounts/s (make bench).
RESTORE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class Histogram:
    """Cumulative-by-bound bucket counts and a sum, as Prometheus histograms read."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)


def _by_outcome() -> dict[str, dict[str, int]]:
    """Outcome -> event type -> count. APPLIED, which nearly every event takes, has
    every type of the contract at 0, so that the loop's `d[type] += 1` hits an
    exact dict (~60 ns; a Counter's takes ~100-300 ns) and every type is
    exported from the start."""
    by_outcome: dict[str, dict[str, int]] = {outcome: {} for outcome in OUTCOMES}
    by_outcome[APPLIED] = dict.fromkeys(EVENT_TYPES, 0)
    return by_outcome


@dataclass
class EngineMetrics:
    """One engine's counters. Dict keys become Prometheus label values, so they
    must come from bounded sets (the rules file, the event types of the
    contract, the partitions), never from an event's content."""

    started_at: float = field(default_factory=time.time)
    events: int = 0  # records consumed
    events_by_outcome: dict[str, dict[str, int]] = field(default_factory=_by_outcome)
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason (INVALID, ...)
    decisions: Tally = field(default_factory=Tally)
    offers_sent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trigger, kind)
    held_back: Counter[tuple[str, str]] = field(default_factory=Counter)  # (guard, trigger)
    offers_not_resent: int = 0  # decided again after a crash, found already on the offers topic
    event_to_offer: Histogram = field(default_factory=lambda: Histogram(EVENT_TO_OFFER_BUCKETS))
    timer_wakes: int = 0  # accounts woken by the sweep (a due time reached)
    timer_errors: int = 0  # wakes that raised (a bug): those timers wait for the next event
    timers_scheduled: int = 0  # accounts with a due time, on the partitions held
    clocks: dict[int, float] = field(default_factory=dict)  # partition -> its clock (POSIX s)
    checkpoints: int = 0
    checkpoint_seconds: float = 0.0  # the last one
    checkpoint_durations: Histogram = field(default_factory=lambda: Histogram(CHECKPOINT_BUCKETS))
    last_checkpoint_at: float = 0.0
    changelog_records: int = 0
    rebalances: int = 0  # assignments received
    restored_accounts: int = 0  # by the last restore
    restore_seconds: float = 0.0  # the last one
    restore_durations: Histogram = field(default_factory=lambda: Histogram(RESTORE_BUCKETS))
    accounts: int = 0
    partitions: int = 0  # held now
    lag: dict[int, int] = field(default_factory=dict)  # partition -> records behind
    rules_switches: int = 0  # rules versions switched to while running
    rules_rejected: int = 0  # versions refused: a bad record on the rules topic, a broken file
    lag_seconds: dict[int, float] = field(default_factory=dict)  # partition -> seconds behind

    def count(self, outcome: str, event_type: str) -> None:
        """One record's outcome, off the hot path (the loop counts APPLIED itself)."""
        by_type = self.events_by_outcome[outcome]
        by_type[event_type] = by_type.get(event_type, 0) + 1

    @property
    def invalid(self) -> int:
        """Records sent to the dead-letter topic."""
        return self.dead_letters.total()

    @property
    def replayed(self) -> int:
        return sum(self.events_by_outcome[REPLAYED].values())

    @property
    def forwarded(self) -> int:
        return sum(self.events_by_outcome[FORWARDED].values())
