"""The engine's counters: plain ints and Counters updated on the hot path (a
dict increment each). The worker's /metrics reads them at scrape time
(streams/worker/metrics.py); nothing here formats or allocates per event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from triggers.tally import Tally


@dataclass
class EngineMetrics:
    """One engine's counters. Dict keys become Prometheus label values, so they
    must come from bounded sets (the rules file, the partitions), never events."""

    started_at: float = field(default_factory=time.time)
    events: int = 0
    invalid: int = 0  # sent to the dead-letter topic
    decisions: Tally = field(default_factory=Tally)
    replayed: int = 0  # records at or below the offset already applied (after a restart)
    forwarded: int = 0  # events on a partition their account does not hash to
    offers_not_resent: int = 0  # decided again after a crash, found already on the offers topic
    timer_wakes: int = 0  # accounts woken by the sweep (a due time reached)
    timer_errors: int = 0  # wakes that raised (a bug): those timers wait for the next event
    timers_scheduled: int = 0  # accounts with a due time, on the partitions held
    clocks: dict[int, float] = field(default_factory=dict)  # partition -> its clock (POSIX s)
    checkpoints: int = 0
    checkpoint_seconds: float = 0.0  # the last one
    last_checkpoint_at: float = 0.0
    changelog_records: int = 0
    restored_accounts: int = 0
    restore_seconds: float = 0.0
    accounts: int = 0
    lag: dict[int, int] = field(default_factory=dict)  # partition -> records behind
    rules_version: str = ""  # the rules it decides with (the rule book's version)
    rules_switches: int = 0  # rules versions switched to while running
    rules_rejected: int = 0  # versions refused: a bad record on the rules topic, a broken file
