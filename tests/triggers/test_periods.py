from datetime import UTC, datetime

from triggers.periods import monthly_period


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_period_is_anchored_on_the_signup_day() -> None:
    assert monthly_period(ts(2026, 3, 20), ts(2025, 7, 15)) == (ts(2026, 3, 15), ts(2026, 4, 15))
    assert monthly_period(ts(2026, 3, 10), ts(2025, 7, 15)) == (ts(2026, 2, 15), ts(2026, 3, 15))


def test_period_starts_on_the_first_without_a_signup_date() -> None:
    assert monthly_period(ts(2026, 3, 1), None) == (ts(2026, 3, 1), ts(2026, 4, 1))


def test_anchor_on_the_31st_uses_the_last_day_of_short_months() -> None:
    assert monthly_period(ts(2026, 2, 28, 12), ts(2025, 1, 31)) == (ts(2026, 2, 28), ts(2026, 3, 31))
    assert monthly_period(ts(2026, 1, 1), ts(2025, 1, 31)) == (ts(2025, 12, 31), ts(2026, 1, 31))
