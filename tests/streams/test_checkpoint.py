"""Checkpointer ordering and BatchWriter, with recording fakes of our own (the
producer's batches are aiokafka's real BatchBuilder; no broker is involved).

The order is the delivery guarantee: outputs acknowledged, then state written
and acknowledged, then offsets committed. A crash at any step then redoes
work rather than losing it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.structs import RecordMetadata

from streams.runtime.checkpoint import Checkpointer
from streams.runtime.counters import EngineMetrics
from streams.runtime.outputs import MAX_BATCH_BYTES, BatchWriter, RecordTooLarge
from streams.runtime.state_store import PARTITION_KEY, PartitionState
from triggers import AccountState

EVENTS = TopicPartition("events", 0)


class RecordingProducer:
    """Records every call in `log`; a sent batch is acknowledged only when the
    test says so (`acknowledge`)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.pending: list[tuple[str, int, BatchBuilder, asyncio.Future[Any]]] = []
        self.next_offset: dict[tuple[str, int], int] = {}
        self.written: dict[str, list[tuple[bytes, bytes | None]]] = {}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(MAX_BATCH_BYTES, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((topic, partition, batch, future))
        for record in DefaultRecordBatch(bytes(batch._build())):
            self.written.setdefault(topic, []).append((record.key, record.value))
        self.log.append(f"send {topic}/{partition} x{batch.record_count()}")
        return future

    def acknowledge(self) -> None:
        for topic, partition, batch, future in self.pending:
            base = self.next_offset.get((topic, partition), 0)
            self.next_offset[(topic, partition)] = base + batch.record_count()
            future.set_result(RecordMetadata(topic, partition, None, base, -1, 0, -1))
            self.log.append(f"ack {topic}/{partition}")
        self.pending.clear()

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        self.log.append(f"txn offsets {sorted(o for o in offsets.values())}")

    async def commit_transaction(self) -> None:
        self.log.append("txn commit")

    async def begin_transaction(self) -> None:
        self.log.append("txn begin")


class RecordingConsumer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.log.append(f"commit {sorted(offsets.values())}")


def _store_with_change() -> PartitionState:
    store = PartitionState(0)
    store.accounts["acme"] = AccountState("acme", plan="basic")
    store.applied["acme"] = 4
    store.dirty.add("acme")
    return store


def _checkpointer(transactional: bool) -> tuple[Checkpointer, BatchWriter, RecordingProducer,
                                                 list[str]]:
    log: list[str] = []
    producer = RecordingProducer(log)
    writer = BatchWriter(producer)  # type: ignore[arg-type]
    checkpointer = Checkpointer(writer, producer, RecordingConsumer(log),  # type: ignore[arg-type]
                                "changelog", ("offers", "outcomes"), "group",
                                transactional, EngineMetrics())
    return checkpointer, writer, producer, log


async def _acknowledge_until_done(producer: RecordingProducer, checkpointer: Checkpointer) -> None:
    while checkpointer.busy:
        producer.acknowledge()
        await asyncio.sleep(0)


async def test_outputs_then_state_then_offsets() -> None:
    checkpointer, writer, producer, log = _checkpointer(transactional=False)
    writer.write("offers", 0, b"acme", b'{"offer_id": "o1"}')
    writer.write("offers", 0, b"acme", b'{"offer_id": "o2"}')
    await checkpointer.commit([_store_with_change()], {EVENTS: 5})
    assert log == ["send offers/0 x2"]  # nothing more until the offers are acknowledged
    await asyncio.sleep(0.01)
    assert log == ["send offers/0 x2"]
    producer.acknowledge()
    await asyncio.sleep(0.01)
    assert log[-1] == "send changelog/0 x2"  # the account and the partition record
    assert not any(line.startswith("commit") for line in log)
    await _acknowledge_until_done(producer, checkpointer)
    await checkpointer.wait()
    assert log == ["send offers/0 x2", "ack offers/0", "send changelog/0 x2",
                   "ack changelog/0", "commit [5]"]
    assert checkpointer.committed == {EVENTS: 5}


async def test_the_partition_record_carries_the_end_of_the_offers_acknowledged() -> None:
    checkpointer, writer, producer, _ = _checkpointer(transactional=False)
    producer.next_offset[("offers", 0)] = 40
    for n in range(3):
        writer.write("offers", 0, b"acme", b'{"offer_id": "o%d"}' % n)
    await checkpointer.commit([_store_with_change()], {EVENTS: 5})
    await _acknowledge_until_done(producer, checkpointer)
    restored = PartitionState(0)
    for key, value in producer.written["changelog"]:
        restored.load(key, value)
    assert restored.offers_end == 43  # 3 offers at 40, 41, 42
    assert restored.applied == {"acme": 4}
    assert PARTITION_KEY in {key for key, _ in producer.written["changelog"]}


async def test_the_partition_record_carries_the_end_of_the_outcomes_acknowledged_too() -> None:
    checkpointer, writer, producer, _ = _checkpointer(transactional=False)
    producer.next_offset[("outcomes", 0)] = 7
    writer.write("offers", 0, b"acme", b'{"offer_id": "o1"}')
    for status in ("made", "shown"):
        writer.write("outcomes", 0, b"acme", b'{"outcome_id": "o1/%s"}' % status.encode())
    await checkpointer.commit([_store_with_change()], {EVENTS: 5})
    await _acknowledge_until_done(producer, checkpointer)
    restored = PartitionState(0)
    for key, value in producer.written["changelog"]:
        restored.load(key, value)
    assert (restored.offers_end, restored.outcomes_end) == (1, 9)


async def test_a_failed_output_commits_nothing() -> None:
    checkpointer, writer, producer, log = _checkpointer(transactional=False)
    writer.write("offers", 0, b"acme", b"{}")
    await checkpointer.commit([_store_with_change()], {EVENTS: 5})
    producer.pending[0][3].set_exception(RuntimeError("broker said no"))
    with pytest.raises(RuntimeError, match="broker said no"):
        await checkpointer.wait()
    assert not any(line.startswith(("send changelog", "commit")) for line in log)
    assert checkpointer.committed == {}


async def test_with_transactions_offsets_go_into_the_transaction() -> None:
    checkpointer, writer, producer, log = _checkpointer(transactional=True)
    writer.write("offers", 0, b"acme", b"{}")
    committing = asyncio.create_task(checkpointer.commit([_store_with_change()], {EVENTS: 5}))
    while not committing.done():
        producer.acknowledge()
        await asyncio.sleep(0)
    await committing
    assert log == ["send offers/0 x1", "send changelog/0 x1", "ack offers/0", "ack changelog/0",
                   "txn offsets [5]", "txn commit", "txn begin"]


async def test_abandon_drops_the_checkpoint_in_flight() -> None:
    checkpointer, writer, producer, log = _checkpointer(transactional=False)
    writer.write("offers", 0, b"acme", b"{}")
    await checkpointer.commit([_store_with_change()], {EVENTS: 5})
    checkpointer.abandon()
    await asyncio.sleep(0)
    producer.acknowledge()
    await asyncio.sleep(0.01)
    assert not any(line.startswith("commit") for line in log)
    assert not checkpointer.busy


def test_a_record_too_large_for_any_batch_is_refused_and_nothing_queued() -> None:
    log: list[str] = []
    writer = BatchWriter(RecordingProducer(log))  # type: ignore[arg-type]
    with pytest.raises(RecordTooLarge):
        writer.write("dlq", 0, b"k", b"x" * MAX_BATCH_BYTES)
    assert writer.take_in_flight() == []


async def test_full_batches_are_split_and_counted() -> None:
    log: list[str] = []
    producer = RecordingProducer(log)
    writer = BatchWriter(producer)  # type: ignore[arg-type]
    for _ in range(5):
        writer.write("offers", 1, b"k", b"x" * 300_000)
    await writer.send()
    deliveries = writer.take_in_flight()
    assert [d.records for d in deliveries] == [3, 2]
    assert {(d.topic, d.partition) for d in deliveries} == {("offers", 1)}


async def test_offers_sent_while_the_state_is_written_go_to_the_next_checkpoint() -> None:
    """Without transactions the loop keeps sending offers while a checkpoint
    writes its state; the next checkpoint must wait for them and record where
    they end, or a crash after it would send them again."""
    checkpointer, writer, producer, _ = _checkpointer(transactional=False)
    writer.write("offers", 0, b"acme", b'{"offer_id": "o1"}')
    await checkpointer.commit([_store_with_change()], {EVENTS: 5})
    writer.write("offers", 0, b"acme", b'{"offer_id": "o2"}')  # the loop goes on
    await writer.send()
    await _acknowledge_until_done(producer, checkpointer)
    await checkpointer.commit([_store_with_change()], {EVENTS: 6})
    await _acknowledge_until_done(producer, checkpointer)
    await checkpointer.wait()
    restored = PartitionState(0)
    for key, value in producer.written["changelog"]:
        restored.load(key, value)
    assert restored.offers_end == 2  # o2's end, recorded by the second checkpoint
