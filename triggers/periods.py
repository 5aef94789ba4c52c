"""Billing periods for counters: monthly, anchored on the day of the month the
account signed up (the way most billing systems bill), or on the 1st when the
signup date is not known."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from functools import lru_cache

DAY = 86_400


def monthly_period(at: float, anchor: float | None) -> tuple[float, float]:
    """The [start, end) of the billing month holding `at`, as POSIX seconds (UTC).

    Periods start at midnight, so the answer depends only on the day of `at` and
    the anchor's day of the month: both are cached, since each account asks on
    its first counter event of every period.
    """
    anchor_day = _day_of_month(int(anchor // DAY)) if anchor is not None else 1
    return _period_of_day(int(at // DAY), anchor_day)


@lru_cache(maxsize=4096)
def _day_of_month(day_index: int) -> int:
    return datetime.fromtimestamp(day_index * DAY, UTC).day


@lru_cache(maxsize=65_536)
def _period_of_day(day_index: int, anchor_day: int) -> tuple[float, float]:
    moment = datetime.fromtimestamp(day_index * DAY, UTC)
    start = _anchor_in_month(moment.year, moment.month, anchor_day)
    if start > moment:
        start = _anchor_in_month(*_shift(moment.year, moment.month, -1), anchor_day)
    end = _anchor_in_month(*_shift(start.year, start.month, 1), anchor_day)
    return start.timestamp(), end.timestamp()


def _anchor_in_month(year: int, month: int, day: int) -> datetime:
    """The anchor day in that month; the 31st becomes the last day of shorter months."""
    return datetime(year, month, min(day, calendar.monthrange(year, month)[1]), tzinfo=UTC)


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def add_to_period(
    counter: tuple[float, float, float] | None, delta: float, at: float, anchor: float | None
) -> tuple[float, float, float] | None:
    """A counter (total, start, end) after adding `delta` at time `at`: a new
    period starts from zero; None for a delta of a period that has ended (it
    does not count toward the current one)."""
    if counter is not None:
        total, start, end = counter
        if start <= at < end:
            return (total + delta, start, end)
        if at < start:
            return None
    start, end = monthly_period(at, anchor)
    return (delta, start, end)
