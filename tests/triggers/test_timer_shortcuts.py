"""The shortcuts that spare recomputing due times: an event recomputes them only
when it changes what a timed trigger reads (watched leaf by leaf), and the rule
book remembers what each offer resolves to. They must make the offers that
recomputing every due time after every event makes."""

from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import triggers.decide
from schemas.events import decode_event
from tests.factories import book, event_json
from tests.triggers.test_replay_properties import (
    account_streams,
    interleaved,
    orders,
    run,
    time_ordered,
)
from tests.triggers.timed import Partition, fired_at, moment
from triggers import AccountState, RuleBook
from triggers.rulebook import TARGETS_KEPT
from triggers.tally import Tally
from triggers.timers import refresh_timers

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


CAPPED_WITH_A_SEGMENT = """
  accounting: {name: Accounting, price_monthly: 30, complements: [basic, pro]}
triggers:
  - {id: renewal, kind: before_renewal, days: [60], priority: 9,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: tenure, kind: tenure, from_days: 10, to_days: 200, priority: 5,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
  - id: payroll
    kind: segment
    when: {all: [{attribute: industry, equals: payroll}, {attribute: employees, at_least: 10}]}
    offer: {kind: cross_sell, recommend: "addon:accounting"}
  - {id: done, kind: milestone, name: project_completed,
     offer: {kind: upsell, recommend: next_tier}}
"""


def capped_offers_with_a_late_segment_entry() -> list[tuple[str, datetime]]:
    accounts = Partition(book(guards="account_cap: {max_offers: 1, per_days: 7}",
                              triggers=CAPPED_WITH_A_SEGMENT))
    made = accounts.subscribe("a", day=0, signed_up_day=0, renews_day=70)
    made += accounts.subscribe("b", day=0)
    # b moves the clock to day 12: a's renewal fires on day 10, the cap holds its tenure.
    made += accounts.send("milestone", "b", day=12, name="other")
    # a's account event of day 2, behind the clock: its segment's offer is a week from
    # the renewal's, and the cap's memory keeps only offers within a week of it.
    made += accounts.send("account", "a", day=2, industry="payroll", employees=12)
    made += accounts.send("milestone", "a", day=13, name="project_completed")
    return fired_at(made + accounts.advance(30))


def test_an_account_event_that_makes_an_offer_recomputes_the_due_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its offer changes what the cap remembers, which may free a moment the due times
    were held from: the offers are those of recomputing after every account event."""
    with_shortcut = capped_offers_with_a_late_segment_entry()
    monkeypatch.setattr(triggers.decide._Watch, "moved_timers", lambda *_: True)
    assert with_shortcut == capped_offers_with_a_late_segment_entry()
    assert [trigger for trigger, _ in with_shortcut] == ["renewal", "payroll", "tenure"]


# -- the rule book -------------------------------------------------------------------

def test_what_an_offer_resolves_to_is_remembered_up_to_a_bound() -> None:
    rules = book()
    next_tier = rules.listeners[("metric", "seats")][0].offer
    assert next_tier.recommend == "next_tier"
    assert rules.target_for(next_tier, "basic", ()) is rules.target_for(next_tier, "basic", ())
    assert rules.target_for(next_tier, "enterprise", ()) is None  # the top tier: remembered too
    for n in range(TARGETS_KEPT + 10):  # add-on ids come from events: any number of them
        assert rules.target_for(next_tier, "basic", (f"addon-{n}",)).key == "plan:pro"
    assert len(rules._found) == TARGETS_KEPT
    assert rules.target_for(next_tier, "nope", ()) is None


# -- all of them together --------------------------------------------------------------

def exact_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shortcut: every event recomputes every due time (a wake always does)."""
    monkeypatch.setattr(triggers.decide._Watch, "moved_timers", lambda *_: True)
    monkeypatch.setattr(triggers.decide._ReadingWatch, "moved_timers", lambda *_: True)


attribute_changes = st.fixed_dictionaries({
    "contract_term": st.sampled_from(["annual", "monthly"]),
    "industry": st.sampled_from(["payroll", "retail"]),
    "employees": st.integers(1, 20),
})


@st.composite
def streams_with_account_events(draw: Any) -> list[list[bytes]]:
    """The property streams, with account events among them (what the renewal's and
    the segment's `when:` read), each account's stream in time order."""
    streams = []
    for stream in draw(account_streams()):
        account = decode_event(stream[0]).account_id
        changes = draw(st.lists(st.tuples(st.integers(0, 180), attribute_changes), max_size=4))
        stream = stream + [event_json("account", account, half_days / 2,
                                      f"{account}-attributes-{n}", **attributes)
                           for n, (half_days, attributes) in enumerate(changes)]
        streams.append(time_ordered(stream))
    return streams


@settings(max_examples=100, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(streams=streams_with_account_events())
def test_the_shortcuts_make_the_offers_of_exact_timers(
    streams: list[list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = time_ordered([line for stream in streams for line in stream])
    with_shortcuts = run(lines)
    with monkeypatch.context() as patched:
        exact_timers(patched)
        assert run(lines) == with_shortcuts


@settings(max_examples=100, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(streams=streams_with_account_events(), data=st.data())
def test_account_events_make_the_offers_of_recomputing_after_each_in_any_interleaving(
    streams: list[list[bytes]], data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events behind the partition clock too (another account's events moved it): an
    account event that changes nothing a timed trigger reads, and makes no offer,
    moves no due time, whatever the cap and the wakes did before it."""
    lines = interleaved(streams, data.draw(orders(streams)))
    with_shortcuts = run(lines)
    with monkeypatch.context() as patched:
        patched.setattr(triggers.decide._Watch, "moved_timers", lambda *_: True)
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


def held_out_decisions_with_a_late_segment_entry() -> dict[tuple[str, str], int]:
    """The scenario above with every account in the control group: the segment's
    decision is held out, not sent, and still rewrites the cap's memory."""
    accounts = Partition(book(guards="account_cap: {max_offers: 1, per_days: 7}",
                              triggers=CAPPED_WITH_A_SEGMENT + "holdout: {share: 0.999999, "
                                                               "salt: all}\n"))
    accounts.table.tally = Tally()
    accounts.subscribe("a", day=0, signed_up_day=0, renews_day=70)
    accounts.subscribe("b", day=0)
    accounts.send("milestone", "b", day=12, name="other")
    accounts.send("account", "a", day=2, industry="payroll", employees=12)
    accounts.send("milestone", "a", day=13, name="project_completed")
    accounts.advance(30)
    return dict(accounts.table.tally.outcomes)


def test_an_account_event_whose_decision_is_held_out_recomputes_the_due_times_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_shortcut = held_out_decisions_with_a_late_segment_entry()
    monkeypatch.setattr(triggers.decide._Watch, "moved_timers", lambda *_: True)
    assert with_shortcut == held_out_decisions_with_a_late_segment_entry()
    assert with_shortcut[("payroll", "held_out")] == 1
