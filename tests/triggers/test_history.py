"""Daily samples of a gauge: one per day, bounded, the level carried into a window,
and the least-squares trend."""

import pytest

from triggers.history import (
    DAY,
    Samples,
    levels_over,
    readings_within,
    slope_per_day,
    with_sample,
)

NOON = 12 * 3600.0


def at(day: int, seconds: float = NOON) -> float:
    return day * DAY + seconds


def test_a_day_keeps_one_sample_its_latest_reading() -> None:
    samples = with_sample(None, at(100, 3600), 5, keep_days=30)
    samples = with_sample(samples, at(100, 7200), 8, keep_days=30)
    samples = with_sample(samples, at(101, 0), 9, keep_days=30)
    assert samples == [(100, 8), (101, 9)]


def test_a_new_list_is_returned_and_the_old_one_is_left_as_it_was() -> None:
    before: Samples = [(100, 5)]
    after = with_sample(before, at(100), 8, keep_days=30)
    assert before == [(100, 5)]
    assert after == [(100, 8)]


def test_days_older_than_the_window_are_dropped_but_the_level_carried_in() -> None:
    samples: Samples = [(10, 1), (20, 2), (25, 3), (40, 4)]
    # Day 50, 20 days kept: days 31..50, and day 25's level, which held until day 40.
    assert with_sample(samples, at(50), 5, keep_days=20) == [(25, 3), (40, 4), (50, 5)]


def test_history_never_holds_more_than_its_window_and_the_level_carried_in() -> None:
    samples: Samples = []
    for reading in range(400):
        day = 1000 + reading // 3  # three readings a day
        samples = with_sample(samples, at(day, reading % 3 * 3600), reading, keep_days=30)
        assert len(samples) <= 31
        days = [d for d, _ in samples]
        assert days == sorted(set(days))  # one per day, oldest first
        assert all(d > day - 30 for d in days[1:])  # only the first may be older: carried in
    assert samples[-1] == (1133, 399)


def test_a_late_reading_of_an_earlier_day_changes_nothing() -> None:
    samples: Samples = [(100, 5), (102, 7)]
    assert with_sample(samples, at(101), 99, keep_days=30) == samples


def test_levels_over_a_window_are_led_by_the_level_carried_into_it() -> None:
    samples: Samples = [(10, 12), (15, 14), (25, 15)]
    # Day 40, 30 days: days 11..40, led by day 10's 12 (held until day 15).
    assert levels_over(samples, 40, 30) == [(10, 12), (15, 14), (25, 15)]
    # Day 50: days 21..50, led by day 15's 14; day 10's level no longer held in it.
    assert levels_over(samples, 50, 30) == [(15, 14), (25, 15)]
    # Day 100: no reading in the window, the last one still holds.
    assert levels_over(samples, 100, 30) == [(25, 15)]
    assert levels_over([], 100, 30) == []


def test_readings_within_a_window_exclude_today_and_the_level_carried_in() -> None:
    samples: Samples = [(5, 1), (11, 2), (20, 3), (40, 4)]
    assert readings_within(samples, 40, 30) == [(11, 2), (20, 3)]
    assert readings_within(samples, 41, 30) == [(20, 3), (40, 4)]
    assert readings_within(samples, 41, 30) is not samples


def test_slope_of_a_straight_line_is_its_rise_per_day() -> None:
    assert slope_per_day([(d, 30 + 1.5 * d) for d in range(20_000, 20_010)]) == pytest.approx(1.5)


def test_slope_counts_the_gaps_between_days() -> None:
    # +6 over 6 days, with days missing, is +1 a day, not +3 per sample.
    assert slope_per_day([(100, 10), (103, 13), (106, 16)]) == pytest.approx(1.0)


def test_slope_is_the_least_squares_fit_of_noisy_samples() -> None:
    # x = 0..4, y = 1, 3, 2, 5, 4: slope = sum(dx*dy) / sum(dx^2) = 8 / 10.
    assert slope_per_day([(d, y) for d, y in enumerate([1, 3, 2, 5, 4])]) == pytest.approx(0.8)


def test_flat_and_falling_samples_have_no_rising_trend() -> None:
    assert slope_per_day([(d, 7) for d in range(10)]) == 0
    assert slope_per_day([(d, 20 - d) for d in range(10)]) == pytest.approx(-1)


def test_fewer_than_two_samples_have_no_trend() -> None:
    assert slope_per_day([]) == 0
    assert slope_per_day([(100, 5)]) == 0


def test_slope_of_a_large_gauge_keeps_its_precision() -> None:
    # Bytes, +0.5 a day, on days whose mean is no round number (20,001.33...).
    samples = [(20_000 + d, 1e12 + 0.5 * d) for d in (0, 1, 3)]
    assert slope_per_day(samples) == pytest.approx(0.5, abs=1e-6)
