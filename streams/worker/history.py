"""Recent minutes for the status page: a small ring buffer of the engine's
running totals, sampled every few seconds, from which per-minute counts and the
current throughput are read. Counts only (events, dead letters, offers by
trigger id from the rules file): nothing from an event is kept.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mode

from streams.runtime.counters import EngineMetrics

#: Minutes shown on the page (and kept: one set of totals per minute).
MINUTES = 15
#: How often the totals are read. A minute's counts start within this of the
#: minute's start; the throughput's window moves in steps of it.
SAMPLE_INTERVAL_S = 5.0
#: Throughput is measured over about this much of the recent past.
RATE_WINDOW_S = 60.0


@dataclass(frozen=True)
class Totals:
    """Running totals since the worker started."""

    events: int = 0
    dead_letters: int = 0
    offers: Mapping[str, int] = field(default_factory=dict)  # by trigger id

    @classmethod
    def of(cls, metrics: EngineMetrics) -> Totals:
        return cls(metrics.events, metrics.invalid, dict(metrics.decisions.offers))


@dataclass(frozen=True)
class Minute:
    """Counts of one minute; None where the worker kept no totals yet (before it started)."""

    start: float  # POSIX seconds
    events: int | None
    dead_letters: int | None
    offers: Mapping[str, int]


class MinuteHistory:
    """Totals at the start of each of the last minutes, and a minute of samples for the rate."""

    def __init__(self, minutes: int = MINUTES, rate_window_s: float = RATE_WINDOW_S) -> None:
        self._minutes = minutes
        self._rate_window_s = rate_window_s
        self._starts: deque[tuple[int, Totals]] = deque(maxlen=minutes)  # (minute, totals)
        self._recent: deque[tuple[float, int]] = deque()  # (time, events)

    def observe(self, now: float, totals: Totals) -> None:
        minute = int(now // 60)
        if not self._starts or self._starts[-1][0] < minute:
            self._starts.append((minute, totals))
        if not self._recent or now - self._recent[-1][0] >= 1:  # a page load adds at most 1/s
            self._recent.append((now, totals.events))
        # Keep the newest sample at least a window old: the rate spans the whole window.
        while len(self._recent) > 1 and self._recent[1][0] <= now - self._rate_window_s:
            self._recent.popleft()

    def events_per_second(self, now: float, totals: Totals) -> float | None:
        """Events per second since the oldest sample kept (about a minute ago)."""
        if not self._recent or now - self._recent[0][0] < 1:
            return None
        since, events = self._recent[0]
        return (totals.events - events) / (now - since)

    def minutes(self, now: float, totals: Totals) -> list[Minute]:
        """The last minutes, oldest first; the last one is the current minute so far.
        A minute the sampler missed (a stalled process) shows zero, and its counts
        go to the next minute that has totals."""
        current = int(now // 60)
        result = []
        for minute in range(current - self._minutes + 1, current + 1):
            begin = self._totals_at_start(minute)
            end = totals if minute == current else self._totals_at_start(minute + 1)
            if begin is None or end is None:
                result.append(Minute(minute * 60.0, None, None, {}))
                continue
            offers = {trigger: count - begin.offers.get(trigger, 0)
                      for trigger, count in end.offers.items()}
            result.append(Minute(minute * 60.0, end.events - begin.events,
                                 end.dead_letters - begin.dead_letters, offers))
        return result

    def _totals_at_start(self, minute: int) -> Totals | None:
        found = None
        for start, totals in self._starts:
            if start > minute:
                break
            found = totals
        return found


class HistorySampler(mode.Service):
    """Feeds a MinuteHistory every SAMPLE_INTERVAL_S while the worker runs."""

    def __init__(self, history: MinuteHistory, totals: Callable[[], Totals], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history = history
        self.totals = totals

    @mode.Service.timer(SAMPLE_INTERVAL_S, exec_first=True)
    async def _sample(self) -> None:
        self.history.observe(time.time(), self.totals())
