"""Checkpoints: making the engine's work durable, in the one order that keeps
the delivery guarantee.

1. wait until the offers, dead letters and forwarded events are acknowledged;
2. write each changed account's state once to the changelog, wait for it;
3. commit the source offsets.

A crash before 1 completes redoes the work (same offers, same ids). After 1,
the end offset of each offers partition goes into the changelog with the
state (2): after a crash the restore reads the offers past it, so the offers
decided again from the old state are recognised by their ids and not sent
twice. After 2 the replayed records are recognised by the offset each
account's state carries, and skipped.

Without transactions the waiting runs in the background while the loop goes
on deciding (a checkpoint's state is serialised before the loop resumes, so
later events cannot leak into it); the next checkpoint first waits for the
previous one. With transactions a checkpoint is one Kafka transaction with the
offsets sent to it, and the loop waits for the commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.runtime.counters import EngineMetrics
from streams.runtime.outputs import BatchWriter, Delivery
from streams.runtime.state_store import PARTITION_KEY, PartitionState, partition_record

Offsets = dict[TopicPartition, int]
Clocks = dict[int, tuple[PartitionState, float]]  # partition -> (its state, its clock then)


class Checkpointer:
    """`await checkpoint.commit(stores, offsets)`; `await checkpoint.wait()` for the
    one in flight."""

    def __init__(
        self,
        writer: BatchWriter,
        producer: AIOKafkaProducer,
        consumer: AIOKafkaConsumer,
        changelog_topic: str,
        sent_topics: tuple[str, str],
        group_id: str,
        transactional: bool,
        metrics: EngineMetrics,
    ) -> None:
        self._writer = writer
        self._producer = producer
        self._consumer = consumer
        self._changelog = changelog_topic
        self._offers, self._outcomes = sent_topics
        self._group_id = group_id
        self._transactional = transactional
        self._metrics = metrics
        self._in_flight: asyncio.Task[None] | None = None
        # What this worker itself last committed per partition: after a rebalance,
        # state set aside is reused only if the group's offset is still this one.
        self.committed: Offsets = {}

    async def commit(
        self, stores: Iterable[PartitionState], offsets: Offsets, wait: bool = False
    ) -> None:
        """Checkpoint these partitions' changed state and these offsets."""
        await self.wait()
        started = time.monotonic()
        stores = list(stores)
        changes = [
            (store.partition, key, value) for store in stores for key, value in store.drain_changes()
        ]
        clocks = {store.partition: (store, store.clock) for store in stores}
        if self._transactional:
            await self._in_transaction(changes, clocks, offsets, started)
            return
        await self._writer.send()
        outputs = self._writer.take_in_flight()
        self._in_flight = asyncio.create_task(
            self._durable(outputs, changes, clocks, offsets, started)
        )
        if wait:
            await self.wait()

    @property
    def busy(self) -> bool:
        """A checkpoint is still being made durable."""
        return self._in_flight is not None and not self._in_flight.done()

    def raise_if_failed(self) -> None:
        """Raise what the checkpoint in flight raised, if it has failed: an idle
        worker would otherwise not find out until its next checkpoint."""
        task = self._in_flight
        if task is not None and task.done() and not task.cancelled() and task.exception():
            self._in_flight = None
            task.result()

    async def wait(self) -> None:
        """Wait for the checkpoint in flight; raises what it raised."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task

    def abandon(self) -> None:
        """Drop the checkpoint in flight (after a failure nothing more is made durable)."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            task.cancel()

    async def _durable(
        self, outputs: list[Delivery], changes: list[tuple[int, bytes, bytes]],
        clocks: Clocks, offsets: Offsets, started: float,
    ) -> None:
        acknowledged = await asyncio.gather(*(d.future for d in outputs))  # 1. outputs
        # Where each offers and outcomes partition ends now: after a crash, the
        # records past it may be decided again, and are then recognised and not
        # sent twice.
        ends: set[int] = set()
        for delivery, metadata in zip(outputs, acknowledged, strict=True):
            store = clocks.get(delivery.partition, (None, 0.0))[0]
            if store is None or delivery.topic not in (self._offers, self._outcomes):
                continue
            end = metadata.offset + delivery.records
            if delivery.topic == self._offers:
                store.offers_end = max(end, store.offers_end or 0)
            else:
                store.outcomes_end = max(end, store.outcomes_end or 0)
            ends.add(delivery.partition)
        changes.extend(_partition_records(clocks, ends))
        await self._write_state(changes)  # 2. state
        if offsets:
            await self._consumer.commit(offsets)  # 3. offsets
            self.committed.update(offsets)
        self._done(len(changes), started)

    async def _in_transaction(
        self, changes: list[tuple[int, bytes, bytes]], clocks: Clocks, offsets: Offsets,
        started: float,
    ) -> None:
        changes.extend(_partition_records(clocks, set()))
        await self._write_state(changes)
        if offsets:
            await self._producer.send_offsets_to_transaction(offsets, self._group_id)
        await self._producer.commit_transaction()
        self.committed.update(offsets)
        await self._producer.begin_transaction()
        self._done(len(changes), started)

    async def _write_state(self, changes: list[tuple[int, bytes, bytes]]) -> None:
        """Send the changelog records and wait for them. Without transactions this
        runs while the loop goes on sending offers: those are left for the next
        checkpoint, which records where they end."""
        for partition, key, value in changes:
            self._writer.write(self._changelog, partition, key, value)
        await self._writer.send()
        only = None if self._transactional else self._changelog
        await asyncio.gather(*(d.future for d in self._writer.take_in_flight(only)))

    def _done(self, changed: int, started: float) -> None:
        metrics = self._metrics
        metrics.checkpoints += 1
        metrics.changelog_records += changed
        metrics.checkpoint_seconds = time.monotonic() - started
        metrics.checkpoint_durations.observe(metrics.checkpoint_seconds)
        metrics.last_checkpoint_at = time.time()


def _partition_records(clocks: Clocks, ends: set[int]) -> list[tuple[int, bytes, bytes]]:
    """The partition records to write: where the offers partition ends (`ends`: the
    partitions with offers acknowledged now) and the clock, for the partitions where
    either moved."""
    records = []
    for partition, (store, clock) in clocks.items():
        if partition in ends or clock > store.written_clock:
            records.append((partition, PARTITION_KEY,
                            partition_record(store.offers_end, clock, store.outcomes_end)))
            store.written_clock = clock
    return records
