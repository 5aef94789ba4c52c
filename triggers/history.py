"""Daily samples of a gauge: the bounded history that growth, usage drops and
forecasts are measured over.

One sample per metric per UTC day (the day's latest reading), kept only as far
back as the longest window the rules give that metric, so an account's state
stays small however long it lives: 30 days of one metric is 30 pairs.
"""

from __future__ import annotations

DAY = 86_400.0

Samples = list[tuple[int, float]]  # (day number since 1970-01-01 UTC, value), oldest first


def day_of(now: float) -> int:
    return int(now // DAY)


def with_sample(samples: Samples | None, now: float, value: float, keep_days: int) -> Samples:
    """The samples with this reading as its day's sample, days older than
    `keep_days` dropped. A new list: the core decides before it applies."""
    day = day_of(now)
    kept = [sample for sample in samples or () if sample[0] > day - keep_days]
    if kept and kept[-1][0] == day:
        kept[-1] = (day, value)
    elif kept and kept[-1][0] > day:
        return kept  # a reading from an earlier day, late: the later days already speak
    else:
        kept.append((day, value))
    return kept
