"""The status page's recent minutes: per-minute counts and throughput from sampled totals."""

from __future__ import annotations

from streams.runtime.counters import EngineMetrics
from streams.worker.history import MinuteHistory, Totals

T = 1_772_442_000.0  # a minute's start (2026-03-02T09:00:00Z)


def totals(events: int, dead: int = 0, **offers: int) -> Totals:
    return Totals(events, dead, offers)


def test_counts_per_minute_are_differences_of_the_totals_at_each_minute_start() -> None:
    history = MinuteHistory(minutes=3)
    history.observe(T + 5, totals(10, 1, a=1))
    history.observe(T + 65, totals(40, 1, a=3))
    history.observe(T + 125, totals(45, 4, a=3, b=2))
    minutes = history.minutes(T + 150, totals(50, 4, a=3, b=2))
    assert [m.start for m in minutes] == [T, T + 60, T + 120]
    assert [m.events for m in minutes] == [30, 5, 5]  # the last is the current minute so far
    assert [m.dead_letters for m in minutes] == [0, 3, 0]
    assert [dict(m.offers) for m in minutes] == [{"a": 2}, {"a": 0, "b": 2}, {"a": 0, "b": 0}]


def test_minutes_before_the_first_sample_have_no_data() -> None:
    history = MinuteHistory(minutes=4)
    history.observe(T + 130, totals(7))
    minutes = history.minutes(T + 170, totals(9))
    assert [m.events for m in minutes] == [None, None, None, 2]


def test_only_the_last_minutes_are_kept() -> None:
    history = MinuteHistory(minutes=2)
    for minute in range(10):
        history.observe(T + minute * 60, totals(minute * 100))
    assert [m.events for m in history.minutes(T + 9 * 60 + 30, totals(950))] == [100, 50]
    assert len(history._starts) == 2


def test_a_minute_the_sampler_missed_shows_zero_and_the_next_one_gets_its_counts() -> None:
    history = MinuteHistory(minutes=3)
    history.observe(T + 1, totals(0))
    history.observe(T + 121, totals(90))  # nothing sampled in the minute at T + 60
    assert [m.events for m in history.minutes(T + 130, totals(90))] == [0, 90, 0]


def test_throughput_is_over_about_the_last_minute() -> None:
    history = MinuteHistory(rate_window_s=60)
    assert history.events_per_second(T, totals(0)) is None
    for second in range(0, 125, 5):
        history.observe(T + second, totals(second * 10 if second < 60 else 600 + (second - 60)))
    # The last minute: 60 events in 60 s, though the first minute ran at 10/s.
    assert history.events_per_second(T + 120, totals(660)) == 1.0


def test_totals_read_the_engines_counters() -> None:
    metrics = EngineMetrics(events=12)
    metrics.dead_letters["invalid"] = 2
    metrics.decisions.offers.update({"seats-80": 3})
    assert Totals.of(metrics) == Totals(12, 2, {"seats-80": 3})


def test_page_loads_do_not_grow_the_samples_kept() -> None:
    history = MinuteHistory(rate_window_s=60)
    for i in range(10_000):
        history.observe(T + i / 100, totals(i))  # 100 page loads a second for 100 s
    assert len(history._recent) <= 62
    assert history.events_per_second(T + 100, totals(10_000)) is not None
