"""growth, usage_drop and forecast: triggers over a gauge's daily history, through
the real decision core. Seats are a gauge: limit 10 on Basic, 50 on Pro, none on
Enterprise (tests/factories.py)."""

from collections.abc import Sequence

from tests.factories import Account, book, fired
from triggers import RuleBook
from triggers.conditions import METRIC
from triggers.trigger import Firing


def growth(bound: str, within_days: int = 30) -> RuleBook:
    return book(triggers=f"""
triggers:
  - {{id: grows, kind: growth, metric: seats, {bound}, within_days: {within_days},
     offer: {{kind: upsell, recommend: next_tier}}}}
""")


def drop(by_percent: float = 70, within_days: int = 30) -> RuleBook:
    return book(triggers=f"""
triggers:
  - {{id: collapse, kind: usage_drop, metric: seats, by_percent: {by_percent},
     within_days: {within_days}, offer: {{kind: down_sell, recommend: previous_tier}}}}
""")


def forecast(within_days: float = 14, window_days: int = 30, min_samples: int = 5) -> RuleBook:
    return book(triggers=f"""
triggers:
  - {{id: soon-full, kind: forecast, metric: seats, within_days: {within_days},
     window_days: {window_days}, min_samples: {min_samples},
     offer: {{kind: upsell, recommend: next_tier}}}}
""")


def readings(account: Account, values: Sequence[float], first_day: int = 0) -> list[int]:
    """One reading a day from `first_day`; the days on which the account got an offer."""
    return [first_day + i for i, value in enumerate(values)
            if account.seats(value, day=first_day + i).offers]


# -- growth ------------------------------------------------------------------


def test_growth_just_below_the_bound_does_not_fire() -> None:
    account = Account(growth("by: 5"), plan="pro")
    account.seats(12, day=0)
    assert fired(account.seats(16.9, day=10)) == []


def test_growth_exactly_at_the_bound_fires_with_the_customers_numbers() -> None:
    account = Account(growth("by: 5"), plan="pro")
    account.seats(12, day=0)
    account.seats(14, day=10)
    result = account.seats(17, day=20)
    assert fired(result) == ["grows"]
    reason = result.offers[0].reason
    assert reason.text == "seats grew from 12 to 17 (+5) in the last 30 days"
    assert (reason.metric, reason.value, reason.baseline, reason.window_days) == ("seats", 17, 12, 30)


def test_growth_in_percent_fires_at_the_bound_not_below() -> None:
    account = Account(growth("by_percent: 50"), plan="pro")
    account.seats(12, day=0)
    assert fired(account.seats(17.9, day=5)) == []
    result = account.seats(18, day=6)
    assert fired(result) == ["grows"]
    assert result.offers[0].reason.text == "seats grew from 12 to 18 (+50%) in the last 30 days"


def test_growth_is_measured_from_the_lowest_level_of_the_window() -> None:
    account = Account(growth("by: 5"), plan="pro")
    for day, seats in [(0, 14), (3, 11), (6, 13)]:
        account.seats(seats, day=day)
    result = account.seats(16, day=9)
    assert fired(result) == ["grows"]
    assert result.offers[0].reason.baseline == 11


def test_growth_from_a_level_left_before_the_window_does_not_count() -> None:
    account = Account(growth("by: 5"), plan="pro")
    account.seats(12, day=0)
    account.seats(14, day=5)  # the level the window of day 40 starts at
    account.seats(15, day=25)
    assert fired(account.seats(18, day=40)) == []  # +6 on day 0's 12, but day 0 is outside


def test_a_level_held_into_the_window_counts_though_it_was_read_before() -> None:
    # Seats reported only when they change: 12 since day 0, 18 on day 50.
    account = Account(growth("by: 5"), plan="pro")
    account.seats(12, day=0)
    result = account.seats(18, day=50)
    assert fired(result) == ["grows"]
    assert result.offers[0].reason.text == "seats grew from 12 to 18 (+6) in the last 30 days"


def test_growth_in_percent_from_zero_never_fires() -> None:
    # From 0 any rise is an infinite percentage; growth from nothing is what `by` is for.
    account = Account(growth("by_percent: 50"), plan="pro")
    account.seats(0, day=0)
    assert fired(account.seats(20, day=1)) == []
    by_seats = Account(growth("by: 5"), plan="pro")
    by_seats.seats(0, day=0)
    assert fired(by_seats.seats(20, day=1)) == ["grows"]


def test_growth_fires_once_per_spurt_and_again_after_a_pause_of_a_window() -> None:
    account = Account(growth("by: 5", within_days=10), plan="pro")
    spurt = [10, 11, 12, 13, 14, 15, 16, 17, 18]  # days 0-8: +5 reached on day 5
    pause = [18] * 12  # days 9-20: by day 19 the window holds only 18s
    second = [19, 20, 21, 22, 23]  # days 21-25: +5 on day 25
    assert readings(account, spurt + pause + second) == [5, 25]


def test_growth_re_arms_when_the_rise_is_no_longer_met_within_the_window() -> None:
    account = Account(growth("by: 5", within_days=10), plan="pro")
    readings(account, [10, 15])
    assert account.state.fired_levels == {"grows": 0}
    # Day 10: the window is days 1-10, and it began at day 0's 10 (held until day 1).
    readings(account, [15] * 9, first_day=2)
    assert account.state.fired_levels == {"grows": 0}
    readings(account, [15], first_day=11)  # days 2-11, all at 15: no rise left
    assert account.state.fired_levels == {}


def test_growth_on_the_first_reading_has_nothing_to_grow_from() -> None:
    account = Account(growth("by: 5"), plan="pro")
    assert fired(account.seats(40)) == []


def test_growth_of_a_gauge_a_rule_does_not_watch_keeps_no_history() -> None:
    account = Account(growth("by: 5"), plan="pro")
    account.send("usage", metric="api_calls", delta=500)
    assert set(account.state.samples) == set()


# -- usage drop ----------------------------------------------------------------


def test_usage_drop_just_below_the_bound_does_not_fire() -> None:
    account = Account(drop(by_percent=70), plan="pro")
    account.seats(40, day=0)
    assert fired(account.seats(12.5, day=10)) == []


def test_usage_drop_exactly_at_the_bound_fires_a_down_sell() -> None:
    account = Account(drop(by_percent=70), plan="pro")
    account.seats(30, day=0)
    account.seats(40, day=5)
    result = account.seats(12, day=20)
    assert fired(result) == ["collapse"]
    offer = result.offers[0]
    assert offer.kind == "down_sell"
    assert offer.recommended.id == "basic"
    assert offer.reason.text == "seats fell from 40 to 12 (-70%) in the last 30 days"
    assert (offer.reason.baseline, offer.reason.value, offer.reason.window_days) == (40, 12, 30)


def test_usage_drop_from_a_peak_outside_the_window_does_not_fire() -> None:
    account = Account(drop(by_percent=70), plan="pro")
    account.seats(40, day=0)
    account.seats(30, day=5)  # the level the window of day 40 starts at
    assert fired(account.seats(12, day=40)) == []  # -60% from 30


def test_usage_drop_fires_once_per_collapse_and_again_after_a_recovery() -> None:
    account = Account(drop(by_percent=50, within_days=30), plan="pro")
    days = readings(account, [40, 30, 20, 10, 12, 35, 15])
    # Day 2: 20 is -50%; days 3-4 are the same collapse; day 5 (35, -12.5%) re-arms;
    # day 6: 15 is -62.5% from 40, a new collapse.
    assert days == [2, 6]


# -- forecast ------------------------------------------------------------------


def test_forecast_needs_min_samples_days_before_it_trusts_a_trend() -> None:
    account = Account(forecast(min_samples=5), plan="pro")
    # +3 a day from 35: the limit is 5 days away or less from the start.
    assert readings(account, [35, 38, 41, 44]) == []  # four days: not yet a trend
    result = account.seats(46, day=4)
    assert fired(result) == ["soon-full"]


def test_two_readings_on_one_day_count_as_one_sample() -> None:
    account = Account(forecast(min_samples=3), plan="pro")
    account.seats(40, day=0)
    account.seats(41, day=0.5)
    assert fired(account.seats(42, day=1)) == []  # two days, not three


def test_forecast_fires_with_the_days_left_and_the_pace() -> None:
    account = Account(forecast(within_days=14), plan="pro")
    assert readings(account, [36, 37, 38, 39]) == []
    result = account.seats(40, day=4)
    assert fired(result) == ["soon-full"]
    reason = result.offers[0].reason
    assert reason.text == "at this pace all 50 seats are used in about 10 days (40 now, +7 a week)"
    assert (reason.metric, reason.value, reason.limit) == ("seats", 40, 50)
    assert (reason.days_left, reason.rate_per_week) == (10, 7)


def test_forecast_fires_when_the_days_left_reach_within_days_not_before() -> None:
    account = Account(forecast(within_days=9), plan="pro")
    # +1 a day: 10 days left on day 4 (40), 9 on day 5 (41).
    assert readings(account, [36, 37, 38, 39, 40, 41]) == [5]
    exact = Account(forecast(within_days=10), plan="pro")
    assert readings(exact, [36, 37, 38, 39, 40]) == [4]


def test_forecast_does_not_fire_on_a_flat_trend() -> None:
    account = Account(forecast(within_days=366), plan="pro")
    assert readings(account, [49] * 20) == []


def test_forecast_does_not_fire_on_a_falling_trend() -> None:
    account = Account(forecast(within_days=366), plan="pro")
    assert readings(account, [49, 48, 47, 46, 45, 44, 43]) == []


def test_forecast_does_not_fire_on_an_unlimited_plan() -> None:
    account = Account(forecast(within_days=366), plan="enterprise")
    results = [account.seats(seats, day=day) for day, seats in enumerate(range(40, 60))]
    assert all(result.offers == () and result.suppressed == () for result in results)


def test_forecast_uses_only_the_window_for_its_trend() -> None:
    # A steep rise long ago (too few days to forecast), then flat at 40 for 10 days.
    short = Account(forecast(within_days=30, window_days=10), plan="pro")
    assert readings(short, [10, 20, 30, 40]) == []
    assert readings(short, [40] * 10, first_day=20) == []  # the last 10 days are flat
    # Over 60 days the old rise is part of the trend, and the limit looks near.
    long = Account(forecast(within_days=30, window_days=60), plan="pro")
    assert readings(long, [10, 20, 30, 40]) == []
    assert readings(long, [40] * 10, first_day=20) == [20]


def test_forecast_fires_once_per_limit_and_re_arms_when_the_forecast_moves_out() -> None:
    account = Account(forecast(within_days=14, window_days=10, min_samples=5), plan="pro")
    rise = [30, 32, 34, 36, 38, 40]  # +2 a day
    assert readings(account, rise) == [4]  # 38, 6 days left: the first day with 5 samples
    assert readings(account, [41, 41], first_day=6) == []  # still within: no second offer
    # The trend flattens. Day 11: 12.8 days left at the window's slope, still within;
    # day 12: 20.9 days, out: the forecast re-arms.
    assert readings(account, [41] * 4, first_day=8) == []
    assert account.state.fired_levels == {"soon-full": 0}
    assert readings(account, [41], first_day=12) == []
    assert account.state.fired_levels == {}
    assert readings(account, [41] * 15, first_day=13) == []
    # A new rise brings the limit within 14 days again (day 31: 11.8 days): a new offer.
    assert readings(account, [42, 43, 44, 45], first_day=28) == [31]


def test_forecast_re_arms_when_the_limit_is_reached() -> None:
    account = Account(forecast(within_days=14), plan="pro")
    assert readings(account, [40, 42, 44, 46, 48]) == [4]
    assert readings(account, [50], first_day=5) == []  # reached: limit_reached's moment
    assert account.state.fired_levels == {}
    assert readings(account, [49], first_day=6) == [6]  # below it and still rising fast


def test_forecast_reason_shows_a_slow_pace_in_decimals() -> None:
    account = Account(forecast(within_days=60, min_samples=3), plan="pro")
    readings(account, [49.5, 49.6])
    result = account.seats(49.7, day=2)  # +0.1 a day, 3 days left
    assert result.offers[0].reason.text == (
        "at this pace all 50 seats are used in about 3 days (49.7 now, +0.7 a week)"
    )


# -- the hot path and history ---------------------------------------------------


def test_history_kinds_listen_only_on_their_metric() -> None:
    rules = book(triggers="""
triggers:
  - {id: grows, kind: growth, metric: seats, by: 5, within_days: 30,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: collapse, kind: usage_drop, metric: seats, by_percent: 50, within_days: 30,
     offer: {kind: down_sell, recommend: previous_tier}}
  - {id: soon-full, kind: forecast, metric: seats, within_days: 14,
     offer: {kind: upsell, recommend: next_tier}}
""")
    listeners = {signal: [t.id for t in triggers] for signal, triggers in rules.listeners.items()}
    assert listeners == {(METRIC, "seats"): ["grows", "collapse", "soon-full"]}


def test_history_is_kept_as_far_back_as_the_longest_window_on_the_metric() -> None:
    rules = book(triggers="""
triggers:
  - {id: grows, kind: growth, metric: seats, by: 5, within_days: 30,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: soon-full, kind: forecast, metric: seats, within_days: 14, window_days: 60,
     offer: {kind: upsell, recommend: next_tier}}
""")
    assert rules.history_days == {"seats": 60}
    assert book().history_days == {}  # no history kind, no samples


def test_an_accounts_history_stays_bounded_at_one_sample_a_day() -> None:
    account = Account(growth("by: 1000", within_days=30), plan="pro")
    for reading in range(300):  # 100 days, three readings a day
        account.seats(reading % 45, day=reading // 3 + reading % 3 * 0.1)
    samples = account.state.samples["seats"]
    days = [day for day, _ in samples]
    assert len(samples) <= 31  # 30 days and the level carried into them
    assert days == sorted(set(days))
    assert days[-1] - days[1] < 30
    assert samples[-1][1] == 299 % 45  # the day's latest reading


def test_no_samples_are_kept_without_a_history_kind() -> None:
    account = Account(book(), plan="pro")
    for day in range(10):
        account.seats(5, day=day)
    assert account.state.samples == {}


def test_a_reason_without_a_baseline_or_trend_still_names_the_level_reached() -> None:
    # The core passes the condition's anchor; a firing built without one (a
    # replayed firing, another caller) words what it knows instead of failing.
    rules = book(triggers="""
triggers:
  - {id: grows, kind: growth, metric: seats, by: 5, within_days: 30,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: soon-full, kind: forecast, metric: seats, within_days: 14,
     offer: {kind: upsell, recommend: next_tier}}
""")
    grows, soon_full = rules.listeners[(METRIC, "seats")]
    assert grows.kind.reason(Firing(grows, 0, 18, 50), "Pro").text == "seats grew to 18 in the last 30 days"
    assert soon_full.kind.reason(Firing(soon_full, 0, 41, 50), "Pro").text == (
        "at this pace all 50 seats are used within 14 days (41 now)"
    )
