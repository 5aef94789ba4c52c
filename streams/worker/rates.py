"""Per-second rates over the last minute, from counters sampled every few seconds.

The counters only grow (events, offers), so a rate is the difference between
now and the oldest sample still inside the window, over the time between them:
exact over that span, with no per-event work.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping

#: How often the worker samples: a rate's window starts up to this much early.
SAMPLE_EVERY_S = 5.0
WINDOW_S = 60.0


class Rates:
    """`sample()` on a timer; `per_second()` when asked."""

    def __init__(self, read: Callable[[], Mapping[str, float]], window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, Mapping[str, float]]] = deque()

    def sample(self) -> None:
        now = self._clock()
        self._samples.append((now, dict(self._read())))
        while self._samples and self._samples[0][0] < now - self._window_s:
            self._samples.popleft()

    def per_second(self) -> dict[str, float]:
        """Each counter's rate over the last minute (or since the first sample, when
        the worker is younger than that); 0 before there is a span to measure."""
        now, current = self._clock(), self._read()
        base = next(((at, values) for at, values in self._samples if at >= now - self._window_s),
                    None)
        if base is None or now - base[0] < 1.0:
            return {name: 0.0 for name in current}
        span = now - base[0]
        return {name: round((value - base[1].get(name, 0)) / span, 2)
                for name, value in current.items()}
