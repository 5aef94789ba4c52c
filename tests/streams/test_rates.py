"""Per-second rates over the last minute, from sampled counters."""

from __future__ import annotations

from streams.worker.rates import Rates


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_are_exact_over_the_last_minute_and_forget_older_samples() -> None:
    clock, counts = Clock(), {"events": 0.0}
    rates = Rates(lambda: counts, clock=clock)
    rates.sample()
    assert rates.per_second() == {"events": 0.0}  # no span yet
    for _ in range(24):  # two minutes: 100 events/s, then 10 events/s
        clock.now += 5
        counts["events"] += 500 if clock.now <= 1060 else 50
        rates.sample()
    assert rates.per_second() == {"events": 10.0}


def test_a_young_worker_gets_the_rate_since_its_first_sample() -> None:
    clock, counts = Clock(), {"events": 0.0}
    rates = Rates(lambda: counts, clock=clock)
    rates.sample()
    clock.now += 20
    counts["events"] = 1000
    assert rates.per_second() == {"events": 50.0}
