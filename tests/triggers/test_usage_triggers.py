"""Usage thresholds and limits: gauges, counters, crossings and their edges."""

from tests.factories import Account, book, fired, held


def test_threshold_fires_exactly_at_the_level() -> None:
    account = Account(book())
    assert fired(account.seats(7)) == []
    result = account.seats(8)  # 8 of 10 is exactly 80%
    assert fired(result) == ["seats-80"]
    reason = result.offers[0].reason
    assert (reason.value, reason.limit, reason.percent, reason.level) == (8, 10, 80, 80)
    assert reason.text == "8 of 10 seats used (80%)"


def test_threshold_fires_once_per_crossing_not_on_every_event_above() -> None:
    account = Account(book())
    assert fired(account.seats(8)) == ["seats-80"]
    assert fired(account.seats(9, day=30)) == []
    assert fired(account.seats(8, day=60)) == []


def test_crossing_down_then_up_fires_again() -> None:
    account = Account(book())
    assert fired(account.seats(8)) == ["seats-80"]
    assert fired(account.seats(5, day=30)) == []
    assert fired(account.seats(8, day=31)) == ["seats-80"]


def test_jump_past_several_levels_makes_one_offer_the_highest_priority() -> None:
    account = Account(book())
    result = account.seats(10)
    assert fired(result) == ["seats-100"]
    assert held(result) == [("seats-80", "superseded")]
    # The superseded level is consumed too: no seats-80 offer on the next reading.
    assert fired(account.seats(10, day=30)) == []


def test_usage_threshold_with_several_levels_fires_at_each_level() -> None:
    rules = book(triggers="""
triggers:
  - {id: seats, kind: usage_threshold, metric: seats, levels: [50, 80, 90],
     offer: {kind: upsell, recommend: next_tier}}
""")
    account = Account(rules)
    levels = []
    for day, seats in enumerate([4, 5, 6, 8, 8.5, 9, 9.5]):
        result = account.seats(seats, day=day)
        levels += [offer.reason.level for offer in result.offers]
    assert levels == [50, 80, 90]


def test_late_gauge_reading_does_not_roll_the_value_back() -> None:
    account = Account(book())
    account.seats(5, day=10)
    assert fired(account.seats(9, day=5)) == []  # older than the reading we have
    assert account.state.gauges["seats"][0] == 5
    assert fired(account.seats(8, day=11)) == ["seats-80"]


def test_counter_accumulates_within_the_billing_period() -> None:
    account = Account(book(), signed_up_day=-365)
    assert fired(account.send("usage", day=0, metric="api_calls", delta=500)) == []
    result = account.send("usage", day=1, metric="api_calls", delta=300)
    assert fired(result) == ["calls-80"]
    assert result.offers[0].reason.text == "800 of 1,000 API calls used this billing period (80%)"


def test_counter_starts_again_in_a_new_period_and_re_arms() -> None:
    account = Account(book(), signed_up_day=-365)  # anchored on the 2nd of the month
    assert fired(account.send("usage", day=0, metric="api_calls", delta=900)) == ["calls-80"]
    # Next billing period (T0 is 2 March; the period ends 2 April).
    assert fired(account.send("usage", day=31, metric="api_calls", delta=100)) == []
    assert account.state.counters["api_calls"][0] == 100
    assert fired(account.send("usage", day=32, metric="api_calls", delta=750)) == ["calls-80"]


def test_late_counter_event_of_a_closed_period_does_not_count_now() -> None:
    account = Account(book())
    account.send("usage", day=31, metric="api_calls", delta=100)
    account.send("usage", day=0, metric="api_calls", delta=900)  # previous month, late
    assert account.state.counters["api_calls"][0] == 100


def test_unknown_metric_is_ignored_with_a_reason() -> None:
    account = Account(book())
    result = account.send("usage", metric="bandwidth", value=1)
    assert result.ignored == "unknown metric 'bandwidth'"
    assert result.offers == ()


def test_gauge_sent_as_counter_is_ignored_with_a_reason() -> None:
    result = Account(book()).send("usage", metric="seats", delta=3)
    assert result.ignored == "metric 'seats' is a gauge: send 'value', not 'delta'"


def test_unknown_plan_never_fires_and_is_reported() -> None:
    account = Account(book(), plan=None)
    result = account.send("subscription", day=-1, plan="platinum")
    assert result.ignored == "unknown plan 'platinum'"
    assert fired(account.seats(10)) == []


def test_account_without_a_plan_gets_no_usage_offer() -> None:
    account = Account(book(), plan=None)
    assert fired(account.seats(1000)) == []


def test_top_tier_has_no_limits_and_so_no_usage_offers() -> None:
    account = Account(book(), plan="enterprise")
    assert fired(account.seats(10_000)) == []
