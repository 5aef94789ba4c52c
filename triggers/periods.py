"""Billing periods for counters: monthly, anchored on the day of the month the
account signed up (the way most billing systems bill), or on the 1st when the
signup date is not known."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime


def monthly_period(at: float, anchor: float | None) -> tuple[float, float]:
    """The [start, end) of the billing month holding `at`, as POSIX seconds (UTC)."""
    moment = datetime.fromtimestamp(at, UTC)
    day = datetime.fromtimestamp(anchor, UTC).day if anchor is not None else 1
    start = _anchor_in_month(moment.year, moment.month, day)
    if start > moment:
        start = _anchor_in_month(*_shift(moment.year, moment.month, -1), day)
    end = _anchor_in_month(*_shift(start.year, start.month, 1), day)
    return start.timestamp(), end.timestamp()


def _anchor_in_month(year: int, month: int, day: int) -> datetime:
    """The anchor day in that month; the 31st becomes the last day of shorter months."""
    return datetime(year, month, min(day, calendar.monthrange(year, month)[1]), tzinfo=UTC)


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1
