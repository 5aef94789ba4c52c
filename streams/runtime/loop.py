"""The ingest loop: usage events in, offers out, state checkpointed.

A batch loop on aiokafka (see ../shared/ARCHITECTURE.md, "Why the hot path is
a batch loop"): fetch many records, run the decision core per record, send the
offers at once, and make the work durable in checkpoints (checkpoint.py holds
their ordering, which is the whole of the delivery guarantee).

One lock serialises a batch, a rebalance step and the final checkpoint. It is
never held while waiting for the group coordinator: aiokafka runs the
rebalance listener from its coordination task, and `consumer.stop()` waits
for that task, so a listener waiting for the lock while the lock's holder
waits for the coordinator would never return. Listeners return at once when
the engine is stopping or has failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.events import InvalidEvent, decode_event
from streams.runtime.checkpoint import Checkpointer
from streams.runtime.counters import EngineMetrics
from streams.runtime.errors import EngineError
from streams.runtime.outputs import BatchWriter, RecordTooLarge
from streams.runtime.routing import home_partition
from streams.runtime.settings import EngineSettings
from streams.runtime.state_store import PartitionState, restore
from streams.runtime.topics import ensure_topics
from triggers import AccountState, RuleBook, evaluate
from triggers.decide import NOTHING

log = logging.getLogger(__name__)

FORWARDED_FROM = "upsell.forwarded_from"
# aiokafka's generation id while the consumer is not a member of the group.
_NO_GENERATION = -1

__all__ = ["Engine", "EngineError"]


class Engine:
    """One member of the engine's consumer group. `start()`, `run()`, `stop()`."""

    def __init__(self, settings: EngineSettings, book: RuleBook, bootstrap_servers: str) -> None:
        self.settings = settings
        self.book = book
        self.bootstrap_servers = bootstrap_servers
        self.metrics = EngineMetrics()
        self.stores: dict[int, PartitionState] = {}
        self._ready = asyncio.Event()  # partitions assigned and restored
        self.partitions = settings.topics.partitions  # the events topic's, once started
        self._positions: dict[TopicPartition, int] = {}  # next offset to commit
        # Revoked partitions' state, with the offset this worker last committed there.
        self._set_aside: dict[int, tuple[PartitionState, int | None]] = {}
        self._generation = 0  # assignments so far: a batch fetched before one is stale
        self._fatal: BaseException | None = None
        self._pending_events = 0
        self._last_checkpoint = time.monotonic()
        self._lock = asyncio.Lock()  # one batch or one rebalance step at a time
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._restoring: asyncio.Task[dict[int, PartitionState]] | None = None
        # A revocation must finish well inside the group's rebalance timeout, or
        # the group moves on without this worker while it still writes.
        self._rebalance_timeout_ms = max(settings.session_timeout_ms, 30_000)
        self._revoke_deadline = 0.6 * self._rebalance_timeout_ms / 1000
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._writer: BatchWriter | None = None
        self._checkpointer: Checkpointer | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def ready(self) -> bool:
        """True once this worker holds its partitions with their state restored."""
        return self._ready.is_set()

    async def wait_until_ready(self, timeout: float) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        options = settings.kafka.client_options()
        await ensure_topics(self.bootstrap_servers, settings.topics, options)
        producer_options: dict[str, object] = {"acks": "all", "linger_ms": 5}
        if settings.transactions:
            producer_options["transactional_id"] = settings.transactional_id or (
                f"{settings.group_id}-{socket.gethostname()}"
            )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            max_batch_size=1024 * 1024,
            **producer_options,
            **options,
        )
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            if settings.transactions:
                raise EngineError(
                    "the broker refused a transactional producer "
                    f"({type(exc).__name__}); the embedded broker has no transactions: "
                    "run with transactions off (at-least-once) or against Apache Kafka"
                ) from exc
            raise
        self.partitions = await self._check_copartitioned()
        if settings.transactions:
            await self._producer.begin_transaction()
        self._writer = BatchWriter(self._producer)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed" if settings.transactions else "read_uncommitted",
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            rebalance_timeout_ms=self._rebalance_timeout_ms,
            **options,
        )
        self._checkpointer = Checkpointer(
            self._writer, self._producer, self._consumer, settings.topics.changelog,
            settings.topics.offers, settings.group_id, settings.transactions, self.metrics,
        )
        self._consumer.subscribe([settings.topics.events], listener=_Rebalance(self))
        await self._consumer.start()

    async def _check_copartitioned(self) -> int:
        """An account's events, state, offers and dead letters go to the same
        partition number, so the four topics must have the same partition count."""
        assert self._producer is not None
        topics = self.settings.topics
        counts = {
            name: len(await self._producer.partitions_for(name))
            for name in (topics.events, topics.changelog, topics.offers, topics.dlq)
        }
        if len(set(counts.values())) != 1:
            await self._producer.stop()
            found = ", ".join(f"{name}: {count}" for name, count in counts.items())
            raise EngineError(
                f"topics must have the same number of partitions ({found}); "
                "create them with `upsell worker` or with one partition count"
            )
        return counts[topics.events]

    async def run(self) -> None:
        """Consume until `stop()` is called. Raises if the engine can no longer
        vouch for its state (a failed checkpoint, restore or rebalance step): the
        worker then exits and restarts from the last checkpoint."""
        assert self._consumer is not None and self._writer is not None
        interval = self.settings.checkpoint_interval_ms / 1000
        try:
            while True:
                if self._fatal is not None:
                    raise self._fatal
                if self._stopping.is_set():
                    return
                if self._pending_events == 0:
                    self._last_checkpoint = time.monotonic()  # the interval starts with new work
                wait = max(0.0, interval - (time.monotonic() - self._last_checkpoint))
                generation = self._generation
                batch = await self._consumer.getmany(
                    timeout_ms=int(wait * 1000) + 1, max_records=self.settings.max_batch_events
                )
                async with self._lock:
                    if self._fatal is not None:
                        raise self._fatal
                    if self._stopping.is_set():
                        return  # stop() made the final checkpoint: this batch is the next owner's
                    assert self._checkpointer is not None
                    self._checkpointer.raise_if_failed()
                    if generation != self._generation:
                        await self._refetch(batch)
                        continue
                    for tp, records in batch.items():
                        self._process(tp, records)
                    await self._writer.send()  # offers go out now, not at the checkpoint
                    if self._checkpoint_due():
                        await self._checkpoint()
        except ConsumerStoppedError:
            if self._fatal is not None:
                raise self._fatal from None
            if not self._stopping.is_set():
                raise
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._fatal = self._fatal or exc
            raise

    async def _refetch(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """A fetch that spans a rebalance may hold records from before it, or the
        first records after it: neither can be applied in order. Read the
        partitions still held again from the group's committed offsets."""
        consumer = self._consumer
        assert consumer is not None
        held = consumer.assignment()
        for tp in batch:
            if tp not in held:
                continue
            committed = await consumer.committed(tp)
            if committed is None:  # nothing committed yet: from the start, as on assignment
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)

    async def stop(self) -> None:
        """Checkpoint what was done, leave the group, close the clients.

        After a failure there is no final checkpoint: state that may hold a
        half-applied event or cover offers never sent must not be made durable,
        and an open transaction is aborted. Safe to call more than once.
        """
        if self._stopping.is_set():
            await self._stopped.wait()
            return
        self._stopping.set()
        if self._restoring is not None:
            self._restoring.cancel()  # a restore can take minutes; the next owner redoes it
        try:
            async with self._lock:  # the batch or rebalance step in progress ends first
                if self._fatal is None and self._checkpointer is not None:
                    try:
                        await self._checkpoint(wait=True)
                    except Exception as exc:
                        log.error("final checkpoint failed (%s)", type(exc).__name__)
                        self._fatal = exc
        finally:
            await self._close_clients()
            self._ready.clear()
            self._stopped.set()

    async def _close_clients(self) -> None:
        """Leave the group and close the clients, outside the lock (see the module's
        docstring)."""
        if self._fatal is not None and self._checkpointer is not None:
            self._checkpointer.abandon()
            if self.settings.transactions and self._producer is not None:
                with contextlib.suppress(Exception):  # it may be fenced or gone already
                    await self._producer.abort_transaction()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    # -- the hot path ------------------------------------------------------

    def _process(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        store = self.stores.get(tp.partition)
        if store is None or not records:
            return  # revoked while the batch was in flight: the new owner reads it
        assert self._writer is not None
        writer, book, metrics = self._writer, self.book, self.metrics
        decisions = metrics.decisions
        offers_topic = self.settings.topics.offers
        partitions = self.partitions
        accounts, applied, dirty = store.accounts, store.applied, store.dirty
        for record in records:
            try:
                if record.value is None:
                    raise InvalidEvent("empty record (no value)")
                event = decode_event(record.value)
            except InvalidEvent as exc:
                self._dead_letter(record, exc.reason)
                continue
            account_id = event.account_id
            home = home_partition(account_id, partitions)
            if home != tp.partition:
                self._forward(record, home)
                continue
            if applied.get(account_id, -1) >= record.offset:
                metrics.replayed += 1
                continue
            origin = _forwarded_from(record) if record.headers else None
            if origin is not None and store.already_forwarded(account_id, *origin):
                metrics.replayed += 1  # forwarded again after a crash at its origin
                continue
            state = accounts.get(account_id)
            if state is None:
                state = accounts[account_id] = AccountState(account_id)
            try:
                result = evaluate(state, event, book)
            except Exception as exc:  # a bug or an input the contract let through
                log.error("event at %s/%d/%d could not be evaluated: %s", tp.topic,
                          tp.partition, record.offset, type(exc).__name__)
                self._dead_letter(record, f"could not be evaluated: {type(exc).__name__}")
                continue
            applied[account_id] = record.offset
            if origin is not None:
                store.applied_forward(account_id, *origin)
            dirty.add(account_id)
            if result is NOTHING:
                continue  # most events: state updated, nothing fired
            decisions.add(result)
            already_sent = store.already_sent
            for offer in result.offers:
                if already_sent and offer.offer_id in already_sent:
                    already_sent.discard(offer.offer_id)
                    metrics.offers_not_resent += 1
                    continue
                writer.write(offers_topic, home, account_id.encode(),
                             offer.model_dump_json().encode())
        metrics.events += len(records)
        self._pending_events += len(records)
        self._positions[tp] = records[-1].offset + 1

    def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        """Keep the original bytes, and say why and where they came from. A record
        too large to carry with these headers is dead-lettered without its value;
        the source offset in the headers still finds it."""
        assert self._writer is not None
        headers = [
            ("upsell.error", reason.encode()),
            ("upsell.source.topic", record.topic.encode()),
            ("upsell.source.partition", str(record.partition).encode()),
            ("upsell.source.offset", str(record.offset).encode()),
        ]
        dlq = self.settings.topics.dlq
        try:
            self._writer.write(dlq, record.partition, record.key, record.value, headers)
        except RecordTooLarge:
            headers.append(("upsell.value_omitted", str(len(record.value or b"")).encode()))
            self._writer.write(dlq, record.partition, record.key, None, headers)
        self.metrics.invalid += 1

    def _forward(self, record: ConsumerRecord[bytes, bytes], home: int) -> None:
        """An event on the wrong partition (a producer with another partitioner):
        send it on to its account's partition, where its state lives."""
        assert self._writer is not None
        headers = [*(record.headers or ()), (
            FORWARDED_FROM, f"{record.topic}/{record.partition}/{record.offset}".encode()
        )]
        try:
            self._writer.write(self.settings.topics.events, home, record.key, record.value, headers)
        except RecordTooLarge:
            self._dead_letter(record, "too large to forward to the account's partition")
            return
        self.metrics.forwarded += 1

    # -- checkpoints -------------------------------------------------------

    def _checkpoint_due(self) -> bool:
        assert self._checkpointer is not None
        pending, limit = self._pending_events, self.settings.checkpoint_max_events
        if pending == 0:
            return False  # nothing new: an idle worker does not write empty checkpoints
        if self._checkpointer.busy and pending < 2 * limit:
            return False  # the previous one is still flushing: keep deciding meanwhile
        if pending >= limit:
            return True
        elapsed = time.monotonic() - self._last_checkpoint
        return elapsed * 1000 >= self.settings.checkpoint_interval_ms

    async def _checkpoint(self, wait: bool = False) -> None:
        """Checkpoint every partition held; `wait` until it is durable."""
        assert self._checkpointer is not None
        offsets, self._positions = self._positions, {}
        await self._checkpointer.commit(self.stores.values(), offsets, wait=wait)
        self._pending_events = 0
        self._last_checkpoint = time.monotonic()

    def refresh_gauges(self) -> None:
        """Accounts held, and lag per partition: records past the offset this worker
        last committed, by the high watermark of the last fetch (ListOffsets is not
        reliable on every broker). Computed when read, so that a stalled loop shows
        a lag that grows: aiokafka keeps fetching in the background."""
        if self._consumer is None or self._checkpointer is None:
            return
        committed = self._checkpointer.committed
        lag = {}
        for tp in self._consumer.assignment():
            highwater, done = self._consumer.highwater(tp), committed.get(tp)
            if highwater is not None and done is not None:
                lag[tp.partition] = max(0, highwater - done)
        self.metrics.lag = lag
        self.metrics.accounts = sum(len(store.accounts) for store in self.stores.values())

    # -- rebalancing -------------------------------------------------------

    def _in_group(self) -> bool:
        """False once the coordinator has dropped this member (its session expired,
        e.g. after a stall): another worker may own its partitions by now. aiokafka
        has no public accessor for this; its generation goes back to -1."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        return getattr(coordinator, "generation", 0) != _NO_GENERATION

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Checkpoint, then set the partitions' state aside: a rebalance revokes every
        partition and often gives most of them straight back.

        aiokafka only logs what a listener raises, so a failure here is kept in
        `_fatal` for `run()` to raise, and nothing is set aside: a worker that
        could not checkpoint must not reuse state another worker may have moved
        on from. A worker already dropped from the group writes nothing (its
        partitions' next owner redoes the work since the last checkpoint).
        """
        if self._stopping.is_set() or self._fatal is not None:
            return  # stop() makes the final checkpoint; a failed worker makes none
        async with self._lock:
            if self._stopping.is_set() or self._fatal is not None:
                return
            self._generation += 1
            self._set_aside.clear()
            try:
                if not any(tp.partition in self.stores for tp in revoked):
                    pass
                elif not self._in_group():
                    log.warning("dropped from the group before the revocation: "
                                "state since the last checkpoint is left to the next owner")
                    assert self._checkpointer is not None
                    self._checkpointer.abandon()
                else:
                    # All partitions, not only the revoked ones: with transactions a
                    # commit covers every output sent so far, so it must carry every offset.
                    await asyncio.wait_for(self._checkpoint(wait=True), self._revoke_deadline)
                    assert self._checkpointer is not None
                    for tp in revoked:
                        if tp.partition in self.stores:
                            self._set_aside[tp.partition] = (
                                self.stores[tp.partition], self._checkpointer.committed.get(tp)
                            )
            except Exception as exc:
                log.error("checkpoint on revocation failed (%s): the worker will restart",
                          type(exc).__name__)
                self._fatal = self._fatal or exc
            finally:
                for tp in revoked:
                    self.stores.pop(tp.partition, None)
                    self._positions.pop(tp, None)
                self._ready.clear()

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Take back state set aside if the group's committed offset is still the
        one this worker committed (nobody else moved on); restore every other
        partition from the changelog."""
        if self._stopping.is_set() or self._fatal is not None:
            return
        async with self._lock:
            if self._stopping.is_set() or self._fatal is not None:
                return
            self._generation += 1
            try:
                await self._take_partitions(assigned)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not (self._stopping.is_set() and task is not None and not task.cancelling()):
                    raise
            except Exception as exc:
                log.error("taking partitions failed (%s: %s): the worker will restart",
                          type(exc).__name__, exc if isinstance(exc, EngineError) else "")
                self._fatal = self._fatal or exc

    async def _take_partitions(self, assigned: set[TopicPartition]) -> None:
        assert self._consumer is not None
        beyond = sorted(tp.partition for tp in assigned if tp.partition >= self.partitions)
        if beyond:
            raise EngineError(
                f"the events topic now has more partitions than the {self.partitions} it had "
                f"at start (assigned {beyond}): an account's partition would change and "
                "its state would be lost; give the topics back their partition count, or "
                "move to a new set of topics"
            )
        new = []
        for tp in sorted(assigned):
            if tp.partition in self.stores:
                continue
            aside = self._set_aside.pop(tp.partition, None)
            if aside is not None and aside[1] == await self._consumer.committed(tp):
                self.stores[tp.partition] = aside[0]
            else:
                new.append(tp.partition)
        self._set_aside.clear()
        started = time.monotonic()
        topics = self.settings.topics
        self._restoring = asyncio.create_task(restore(
            topics.changelog, new, self.settings.kafka.client_options(),
            self.bootstrap_servers, self.settings.fetch_max_wait_ms,
            committed_only=self.settings.transactions,
            offers_topic=None if self.settings.transactions else topics.offers,
        ))
        try:
            restored = await self._restoring
        finally:
            self._restoring = None
        for partition, store in restored.items():
            await self._check_position(TopicPartition(topics.events, partition), store)
        self.stores.update(restored)
        self.metrics.restore_seconds = time.monotonic() - started
        self.metrics.restored_accounts = sum(len(s.accounts) for s in restored.values())
        self._ready.set()
        log.info("assigned partitions %s", sorted(self.stores))

    async def _check_position(self, tp: TopicPartition, store: PartitionState) -> None:
        """The group's committed offset must exist where the changelog holds state:
        state with no committed offset means the events topic was recreated (its
        offsets start again at 0, and every event would look already applied) or
        the group id changed. A partition seen for the first time gets its start
        committed at once, so that this holds even after a crash between the
        first changelog write and the first offset commit."""
        assert self._consumer is not None
        if await self._consumer.committed(tp) is not None:
            return
        if store.applied:
            raise EngineError(
                f"{tp.topic} partition {tp.partition} has no committed offset for group "
                f"{self.settings.group_id!r}, but the changelog holds {len(store.applied)} "
                f"accounts applied up to offset {store.highest_applied}: the events topic "
                "was recreated or the group id changed. Restore the group's offsets, or "
                "start over with a new changelog topic"
            )
        # Not seek + position: a seek here races the fetcher's own first positioning.
        start = (await self._consumer.beginning_offsets([tp]))[tp]
        await self._consumer.commit({tp: start})


def _forwarded_from(record: ConsumerRecord[bytes, bytes]) -> tuple[int, int] | None:
    """(origin partition, origin offset) of a forwarded event, from its header."""
    for name, value in record.headers:
        if name == FORWARDED_FROM:
            _, partition, offset = value.decode().rsplit("/", 2)
            return int(partition), int(offset)
    return None


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """State follows the group's assignment: checkpoint and drop on revocation,
    restore from the changelog on assignment, before any record is processed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.engine._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.engine._on_assigned(assigned)
