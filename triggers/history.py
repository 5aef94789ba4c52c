"""Daily samples of a gauge: the bounded history that growth, usage drops and
forecasts are measured over.

One sample per metric per UTC day (the day's latest reading), kept only as far
back as the longest window the rules give that metric, so an account's state
stays small however long it lives: 30 days of one metric is at most 31 pairs.

The one sample older than the window is kept on purpose. A gauge holds its
level until the next reading, and many products report seats only when they
change: an account at 12 seats since January that goes to 18 today has grown
by 6 within any window, though its only reading inside the window is today's.
That older sample is the level the window starts at ("carried in").
"""

from __future__ import annotations

from bisect import bisect_right
from operator import itemgetter

from triggers.periods import DAY

Sample = tuple[int, float]  # (day number since 1970-01-01 UTC, value)
Samples = list[Sample]  # oldest first, one per day

_day = itemgetter(0)
_level = itemgetter(1)


def day_of(now: float) -> int:
    return int(now // DAY)


def with_sample(samples: Samples | None, now: float, value: float, keep_days: int) -> Samples:
    """The samples with this reading as its day's sample, only the last `keep_days`
    days kept and the level carried into them. A new list: the core decides
    before it applies."""
    day = day_of(now)
    if samples and samples[-1][0] > day:
        return list(samples)  # a reading from an earlier day, late: the later days already speak
    start = _first_in_window(samples or [], day, keep_days)
    kept = samples[max(start - 1, 0):] if samples else []  # a slice: a new list
    if kept and kept[-1][0] == day:
        kept[-1] = (day, value)
    else:
        kept.append((day, value))
    return kept


def levels_over(samples: Samples, today: int, days: float) -> Samples:
    """The levels the gauge held over the last `days` days, today included: the
    samples of those days, led by the level carried into them (the latest
    earlier sample, if it is still kept). Empty: no reading yet."""
    start = _first_in_window(samples, today, days)
    return samples[max(start - 1, 0):]


def lowest_over(samples: Samples, today: int, days: float) -> float:
    """The lowest of `levels_over` (the samples must not be empty). map() over an
    itemgetter, not a generator: half the time on a window's few samples."""
    lowest: float = min(map(_level, levels_over(samples, today, days)))
    return lowest


def highest_over(samples: Samples, today: int, days: float) -> float:
    """The highest of `levels_over` (the samples must not be empty)."""
    highest: float = max(map(_level, levels_over(samples, today, days)))
    return highest


def readings_within(samples: Samples, today: int, days: float) -> Samples:
    """The samples of the last `days` days before today (today's own excluded:
    the reading being decided replaces it)."""
    start = _first_in_window(samples, today, days)
    end = len(samples)
    if end and samples[-1][0] == today:
        end -= 1
    return samples[start:end]


def slope_per_day(samples: Samples) -> float:
    """The least-squares slope of the samples' values over their days: the trend,
    per day. 0.0 with fewer than two distinct days (no trend to speak of).

    Plain Python, not numpy: a window is a few dozen points, which a loop fits
    in microseconds, well under what converting them to an array would cost
    (and numpy is not a dependency of the engine)."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_day = sum(day for day, _ in samples) / n
    base = samples[0][1]
    # slope = sum(dx * (y - c)) / sum(dx^2) for any c, as sum(dx) is 0; c = the
    # first value keeps the products small for large gauges (bytes, say).
    covariance = 0.0
    variance = 0.0
    for day, value in samples:
        dx = day - mean_day
        covariance += dx * (value - base)
        variance += dx * dx
    return covariance / variance if variance else 0.0


def _first_in_window(samples: Samples, today: int, days: float) -> int:
    """Index of the first sample of the last `days` days (day > today - days)."""
    return bisect_right(samples, today - days, key=_day)
