"""AccountTable: the offline loop, one Timeline per simulated partition, each with
its own clock, as the live engine runs them."""

import orjson
import pytest

from schemas.events import decode_event
from tests.factories import book, event_json
from tests.triggers.timed import Partition, fired_at, iso, moment, offers_of
from triggers.state import AccountState, encode_state
from triggers.table import AccountTable

TIMED = """
triggers:
  - {id: renewal, kind: before_renewal, days: [60, 30], priority: 5,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: quiet, kind: inactivity, days: 21,
     offer: {kind: upsell, recommend: "plan:enterprise"}}
"""
RENEWAL = """
triggers:
  - {id: renewal, kind: before_renewal, days: [60],
     offer: {kind: upsell, recommend: next_tier}}
"""


def by_name(account_id: str, partitions: int) -> int:
    """'p1-acme' lives on partition 1."""
    return int(account_id[1]) % partitions


def two_partitions() -> Partition:
    rules = book(triggers=RENEWAL)
    return Partition(rules, AccountTable(rules, partitions=2, partition_of=by_name))


def test_apply_returns_the_timers_due_before_the_event_then_the_event_then_what_it_made_due() -> None:
    accounts = Partition(book(triggers=TIMED))
    accounts.subscribe("a", day=0, renews_day=100, signed_up_day=-10)
    accounts.seats(1, "a", day=0)
    results = accounts.results("subscription", "b", day=50, plan="basic", started_at=iso(-200),
                               renews_at=iso(80))
    # a's timers due by day 50 first (one wake: each at its own time); then b's event;
    # then what b's event made due: its renewal is 30 days away. (Its quiet spell
    # counts from this first event, not from its signup 250 days before.)
    assert [fired_at(list(result.offers)) for result in results] == [
        [("quiet", moment(21)), ("renewal", moment(40))],
        [],
        [("renewal", moment(50))],
    ]
    assert results[2].offers[0].reason.days_left == 30


def test_several_partitions_need_the_partitioner() -> None:
    with pytest.raises(ValueError, match="partitioner"):
        AccountTable(book(), partitions=2)


def test_an_event_moves_only_the_clock_of_its_own_partition() -> None:
    accounts = two_partitions()
    accounts.subscribe("p0-a", day=0, renews_day=100)
    accounts.subscribe("p1-b", day=0, renews_day=100)
    # Partition 0 reaches day 50; partition 1 stays at day 0 until an event of its own.
    assert fired_at(accounts.seats(1, "p0-c", day=50)) == [("renewal", moment(40))]
    assert [o.account_id for o in accounts.seats(1, "p0-c", day=51)] == []
    offers = accounts.seats(1, "p1-d", day=45)
    assert [(o.account_id, o.created_at) for o in offers] == [("p1-b", moment(40))]
    assert [t.schedule.clock for t in accounts.table.timelines] == [
        moment(51).timestamp(), moment(45).timestamp()
    ]


def test_advance_moves_every_partition_s_clock() -> None:
    accounts = two_partitions()
    accounts.subscribe("p0-a", day=0, renews_day=100)
    accounts.subscribe("p1-b", day=0, renews_day=100)
    offers = accounts.advance(40)
    assert sorted((o.account_id, o.created_at) for o in offers) == [
        ("p0-a", moment(40)), ("p1-b", moment(40))
    ]


def test_reschedule_indexes_each_account_in_its_own_partition_and_restores_its_clock() -> None:
    rules = book(triggers=RENEWAL)
    table = AccountTable(rules, partitions=2, partition_of=by_name)
    for account, day in (("p0-a", 0), ("p1-b", 0), ("p0-c", 30)):
        line = event_json("subscription", account, day, f"s-{account}", plan="basic",
                          started_at=iso(-10), renews_at=iso(100))
        table.apply(decode_event(line))
    restored = AccountTable(rules, partitions=2, partition_of=by_name)
    for account_id, state in table.accounts.items():
        restored.accounts[account_id] = AccountState.from_dict(orjson.loads(encode_state(state)))
    restored.reschedule()
    assert [len(t.schedule) for t in restored.timelines] == [2, 1]
    assert [t.schedule.clock for t in restored.timelines] == [
        moment(30).timestamp(), moment(0).timestamp()
    ]
    # An event on partition 1 fires partition 1's account only.
    line = event_json("usage", "p1-x", 41, "u", metric="seats", value=1)
    assert [o.account_id for o in offers_of(restored.apply(decode_event(line)))] == ["p1-b"]
    assert [len(t.schedule) for t in restored.timelines] == [2, 0]


def test_every_result_is_tallied_timers_included() -> None:
    accounts = two_partitions()
    accounts.subscribe("p0-a", day=0, renews_day=100)
    accounts.advance(40)
    assert accounts.table.tally.offers == {"renewal": 1}
