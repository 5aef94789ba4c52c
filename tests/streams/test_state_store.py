"""PartitionState: the changelog record format (a contract: golden records of
each format load), loading rules, and draining changes. No broker needed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.runtime.state_store import PARTITION_KEY, PartitionState, partition_record
from tests.factories import example_book
from triggers import AccountState
from triggers.exceptions import StateFormatError
from triggers.state import encode_state

GOLDEN = Path(__file__).parent / "golden"


def _record(offset: int, plan: str, forwarded: dict[str, int] | None = None) -> bytes:
    store = PartitionState(0)
    store.accounts["acme"] = AccountState("acme", plan=plan)
    store.applied["acme"] = offset
    for origin, origin_offset in (forwarded or {}).items():
        store.applied_forward("acme", int(origin), origin_offset)
    store.dirty.add("acme")
    [(_, value)] = store.drain_changes()
    return value


def test_a_format_1_record_written_before_versioning_loads() -> None:
    """tests/streams/golden/changelog-v1.json was written by the engine as of
    commit 9fe175d (no `v`, no `forwarded`): changelogs of that format must restore."""
    store = PartitionState(3)
    store.load(b"acct-golden", (GOLDEN / "changelog-v1.json").read_bytes().strip())
    state = store.accounts["acct-golden"]
    assert store.applied == {"acct-golden": 41}
    assert store.forwarded == {}
    assert state.plan == "basic"
    assert state.gauges == {"seats": (9.0, 1772528400.0)}
    assert state.counters["api_calls"][0] == 8500.0
    assert state.tickets == {"T-1": (True, "high", 1772701200.0)}
    assert [(o.trigger_id, o.status) for o in state.offers] == [("seats-80", "declined")]
    assert state.silenced == {"plan:pro": 1775552400.0}


def test_the_current_format_round_trips() -> None:
    value = _record(7, "pro", {"2": 15})
    assert orjson.loads(value)["v"] == 2
    store = PartitionState(0)
    store.load(b"acme", value)
    assert store.applied == {"acme": 7}
    assert store.already_forwarded("acme", 2, 15)
    assert not store.already_forwarded("acme", 2, 16)
    assert not store.already_forwarded("acme", 1, 0)
    assert encode_state(store.accounts["acme"]) == encode_state(AccountState("acme", plan="pro"))


def test_the_record_with_the_highest_applied_offset_wins_not_the_last() -> None:
    """A worker dropped from its group may write an older state after the new
    owner wrote a newer one."""
    store = PartitionState(0)
    store.load(b"acme", _record(20, "pro"))
    store.load(b"acme", _record(10, "basic"))  # the zombie's, written later
    assert store.applied["acme"] == 20
    assert store.accounts["acme"].plan == "pro"
    store.load(b"acme", _record(30, "enterprise"))
    assert store.accounts["acme"].plan == "enterprise"


def test_a_tombstone_removes_the_account() -> None:
    store = PartitionState(0)
    store.load(b"acme", _record(5, "pro", {"1": 3}))
    store.load(b"acme", None)
    assert (store.accounts, store.applied, store.forwarded) == ({}, {}, {})


def test_a_record_of_a_newer_format_is_refused_clearly() -> None:
    record = orjson.loads(_record(5, "pro"))
    record["v"] = 3
    with pytest.raises(StateFormatError, match="format 3 is newer"):
        PartitionState(0).load(b"acme", orjson.dumps(record))


def test_the_partition_record_keeps_the_highest_offers_end() -> None:
    store = PartitionState(0)
    store.load(PARTITION_KEY, partition_record(120))
    store.load(PARTITION_KEY, partition_record(80))
    assert store.offers_end == 120
    assert store.accounts == {}


def test_drain_writes_each_changed_account_once_and_clears() -> None:
    store = PartitionState(0)
    for account in ("a", "b"):
        store.accounts[account] = AccountState(account)
        store.applied[account] = 1
        store.dirty.add(account)
    store.dirty.add("a")
    assert sorted(key for key, _ in store.drain_changes()) == [b"a", b"b"]
    assert list(store.drain_changes()) == []


def test_the_partition_record_keeps_the_highest_clock_and_a_record_without_an_end_keeps_it() -> None:
    store = PartitionState(0)
    store.load(PARTITION_KEY, b'{"v":2,"offers_end":40,"clock":1772442000.5}')
    store.load(PARTITION_KEY, partition_record(None, 1772400000.0))  # an older clock, no end
    assert (store.offers_end, store.clock) == (40, 1772442000.5)
    store.load(PARTITION_KEY, b'{"v":2,"offers_end":12}')  # written before clocks existed
    assert (store.offers_end, store.clock) == (40, 1772442000.5)


def test_attached_rules_start_the_clock_where_the_checkpoint_left_it() -> None:
    store = PartitionState(0)
    store.load(PARTITION_KEY, partition_record(3, 1772442000.0))
    timeline = store.attach(example_book())
    assert timeline.schedule.clock == 1772442000.0 == store.clock
    assert orjson.loads(partition_record(store.offers_end, store.clock)) == {
        "v": 2, "offers_end": 3, "clock": 1772442000.0
    }
