"""The shortcuts that spare recomputing due times: an event recomputes them only
when it changes what a timed trigger reads, and the rule book remembers what
each offer resolves to. Together they must make the offers that recomputing
every due time after every event and every wake makes."""

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import triggers.decide
from schemas.events import decode_event
from tests.factories import book, event_json
from tests.triggers.test_replay_properties import account_streams, run, time_ordered
from tests.triggers.timed import Partition, fired_at, moment
from triggers import AccountState, Evaluation, RuleBook
from triggers.rulebook import TARGETS_KEPT
from triggers.timers import refresh_timers, wake

TENURE_AT_DAY_100_WITH_3_SEATS = """
triggers:
  - {id: tenure, kind: tenure, from_days: 10, to_days: 200,
     when: {all: [{tenure_days: {at_least: 100}}, {metric: seats, at_least: 3}]},
     offer: {kind: upsell, recommend: next_tier}}
"""

RENEWAL_FOR_ANNUAL = """
triggers:
  - {id: renewal, kind: before_renewal, days: [60], when: {attribute: term, equals: annual},
     offer: {kind: upsell, recommend: next_tier}}
"""


class CountedRefreshes:
    """Counts the due-time recomputations decide.py makes after events."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0

        def counted(state: AccountState, rules: RuleBook) -> None:
            self.count += 1
            refresh_timers(state, rules)

        monkeypatch.setattr(triggers.decide, "refresh_timers", counted)


# -- what an event moves -------------------------------------------------------------

def test_a_reading_moves_a_timer_when_its_leaf_flips_though_the_whole_when_holds_neither_way() -> None:
    """Day 50: the `when` is false before and after the reading (tenure_days < 100),
    but from day 100 on it holds with 5 seats and not with 1: the timer must move."""
    accounts = Partition(book(triggers=TENURE_AT_DAY_100_WITH_3_SEATS))
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.seats(1, day=1)
    assert accounts.state().timers == {}
    accounts.seats(5, day=50)
    assert accounts.state().timers == {"tenure": moment(100).timestamp()}
    assert fired_at(accounts.advance(150)) == [("tenure", moment(100))]


def test_a_reading_that_flips_no_leaf_moves_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = Partition(book(triggers=TENURE_AT_DAY_100_WITH_3_SEATS))
    accounts.subscribe(day=0, signed_up_day=0)
    accounts.seats(5, day=1)
    refreshes = CountedRefreshes(monkeypatch)
    accounts.seats(4, day=2)
    accounts.seats(9, day=3)
    assert refreshes.count == 0
    assert accounts.state().timers == {"tenure": moment(100).timestamp()}


def test_an_account_event_moves_a_timer_whose_when_reads_an_attribute_it_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = Partition(book(triggers=RENEWAL_FOR_ANNUAL))
    accounts.subscribe(day=0, renews_day=200)
    assert accounts.state().timers == {}
    accounts.send("account", day=1, traits={"term": "annual"})
    assert accounts.state().timers == {"renewal": moment(140).timestamp()}
    refreshes = CountedRefreshes(monkeypatch)
    accounts.send("account", day=2, industry="payroll", employees=12)  # nothing it reads
    assert refreshes.count == 0
    accounts.send("account", day=3, traits={"term": "monthly"})
    assert refreshes.count == 1
    assert accounts.state().timers == {}
    assert accounts.advance(300) == []


# -- the rule book -------------------------------------------------------------------

def test_what_an_offer_resolves_to_is_remembered_up_to_a_bound() -> None:
    rules = book()
    next_tier = next(t for t in rules.timed + tuple(rules.listeners[("metric", "seats")])
                     if t.offer.recommend == "next_tier").offer
    assert rules.target_for(next_tier, "basic", ()) is rules.target_for(next_tier, "basic", ())
    assert rules.target_for(next_tier, "enterprise", ()) is None  # the top tier: remembered too
    for n in range(TARGETS_KEPT + 10):  # add-on ids come from events: any number of them
        assert rules.target_for(next_tier, "basic", (f"addon-{n}",)).key == "plan:pro"
    assert len(rules._found) == TARGETS_KEPT
    assert rules.target_for(next_tier, "nope", ()) is None


# -- all of them together --------------------------------------------------------------

def exact_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shortcut: every event recomputes every due time, and every wake leaves them exact."""
    monkeypatch.setattr(triggers.decide._Watch, "moved_timers", lambda *_: True)
    monkeypatch.setattr(triggers.decide._ReadingWatch, "moved_timers", lambda *_: True)

    def exact_wake(state: AccountState, now: float, rules: RuleBook,
                   drop_expired: bool = False) -> Evaluation:
        refresh_timers(state, rules)
        result = wake(state, now, rules, drop_expired)
        refresh_timers(state, rules)
        return result

    monkeypatch.setattr("triggers.timeline.wake", exact_wake)


attribute_changes = st.fixed_dictionaries({
    "contract_term": st.sampled_from(["annual", "monthly"]),
    "industry": st.sampled_from(["payroll", "retail"]),
    "employees": st.integers(1, 20),
})


@st.composite
def streams_with_account_events(draw: Any) -> list[bytes]:
    """The property streams, with account events among them (what the renewal's and
    the segment's `when:` read), in time order."""
    lines = [line for stream in draw(account_streams()) for line in stream]
    for account in sorted({decode_event(line).account_id for line in lines}):
        changes = draw(st.lists(st.tuples(st.integers(0, 180), attribute_changes), max_size=4))
        lines += [event_json("account", account, half_days / 2, f"{account}-attributes-{n}",
                             **attributes)
                  for n, (half_days, attributes) in enumerate(changes)]
    return time_ordered(lines)


@settings(max_examples=100, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=streams_with_account_events())
def test_the_shortcuts_make_the_offers_of_exact_timers(
    lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_shortcuts = run(lines)
    with monkeypatch.context() as patched:
        exact_timers(patched)
        assert run(lines) == with_shortcuts


def test_the_shortcuts_make_the_offers_of_exact_timers_on_the_example_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The benchmarks' workload, which exercises every kind of the example rules, on 8
    clocks."""
    from bench.workload import RULES, make_events, rule_book

    lines = make_events(12_000, 1_000)
    rules = rule_book(RULES)
    expected = run(lines, partitions=8, rules=rules)
    assert {orjson.loads(offer)["trigger_id"] for offer in expected} >= {
        "renewal-60", "tenure-3-6-months", "quiet-21-days", "payroll-accounting",
        "seats-growth", "seats-forecast", "seats-collapse"}
    with monkeypatch.context() as patched:
        exact_timers(patched)
        assert run(lines, partitions=8, rules=rules) == expected
