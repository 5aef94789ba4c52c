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

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.events import InvalidEvent, decode_event
from streams.runtime.checkpoint import Checkpointer
from streams.runtime.connect import ask_broker, describe, retrying
from streams.runtime.counters import (
    APPLIED,
    DUPLICATE,
    FUTURE,
    IGNORED,
    NOT_EVALUATED,
    REPLAYED,
    EngineMetrics,
)
from streams.runtime.errors import EngineError
from streams.runtime.health import BrokerWatch, EngineHealth, ErrorNote
from streams.runtime.outputs import BatchWriter
from streams.runtime.rebalance import Rebalance
from streams.runtime.routing import Router, forwarded_from, home_partition
from streams.runtime.settings import EngineSettings
from streams.runtime.state_store import PartitionState
from streams.runtime.sweep import Sweep
from streams.runtime.topics import copartitioned, ensure_topics
from triggers import AccountState, Evaluation, RuleBook
from triggers.decide import NOTHING

log = logging.getLogger(__name__)

# A stop during a broker outage must still end, well inside the 30 s a
# supervisor (Kubernetes' default grace period) waits before SIGKILL: the
# final checkpoint gets this long, then closing the clients (leaving the
# group) this long. What is not made durable is redone by the next owner.
FINAL_CHECKPOINT_TIMEOUT_S = 15.0
CLOSE_TIMEOUT_S = 10.0


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
        # partition -> timestamp (ms) of the last record decided: how far behind it is
        self.last_record_at: dict[int, int] = {}
        self._offers_caused_at: list[int] = []  # record timestamps (ms) of offers not yet sent
        self._generation = 0  # assignments so far: a batch fetched before one is stale
        self._fatal: BaseException | None = None
        self._pending_events = 0
        self._last_checkpoint = time.monotonic()
        self._next_sweep = time.monotonic()
        self._lock = asyncio.Lock()  # one batch or one rebalance step at a time
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._rebalance = Rebalance(self)
        self._sweep = Sweep(self)
        self._rebalance_timeout_ms = max(settings.session_timeout_ms, 30_000)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._writer: BatchWriter | None = None
        self._router: Router | None = None
        self._checkpointer: Checkpointer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._loop_turned: float | None = None  # monotonic; None until run() starts
        self.last_error: ErrorNote | None = None  # for /status
        self.broker = BrokerWatch(self._ask_broker, bootstrap_servers, settings.health,
                                  self._note_error)

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
        """Connect, retrying with backoff while the broker cannot be reached (a
        worker started while Kafka restarts waits for it). Returns early, not
        connected, if `stop()` is called meanwhile."""
        kafka = self.settings.kafka

        async def attempt() -> None:
            self._connecting = asyncio.create_task(self._connect())
            try:
                await self._connecting
            except BaseException:
                # Close what this try opened: the next one starts afresh.
                await self._close_clients()
                self._consumer = self._producer = None
                self._writer = self._router = self._checkpointer = None
                raise
            finally:
                self._connecting = None

        try:
            await retrying(
                attempt, bootstrap_servers=self.bootstrap_servers,
                backoff_max_s=kafka.retry_backoff_max_s, give_up_after_s=kafka.start_wait_s,
                stopping=self._stopping, on_failure=self._note_error,
            )
        except asyncio.CancelledError:
            if not self.stopping:
                raise
        except BaseException as exc:
            self._note_error(exc)
            raise
        if not self.stopping:
            self.broker.start()

    async def _connect(self) -> None:
        settings = self.settings
        options = settings.kafka.client_options()
        await ask_broker(self.bootstrap_servers, options)  # the real reason, if it refuses us
        await ensure_topics(self.bootstrap_servers, settings.topics, options)
        producer_options: dict[str, object] = {
            "acks": "all", "linger_ms": 5,
            "request_timeout_ms": int(settings.kafka.delivery_timeout_s * 1000),
        }
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
        self._router = Router(self._writer, settings.topics, self.metrics)
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
            (settings.topics.offers, settings.topics.outcomes), settings.group_id,
            settings.transactions, self.metrics,
        )
        self._consumer.subscribe([settings.topics.events], listener=self._rebalance)
        await self._consumer.start()

    async def _check_copartitioned(self) -> int:
        """An account's events, state, offers, outcomes and dead letters go to the
        same partition number, so these topics must have the same partition count."""
        assert self._producer is not None
        topics = self.settings.topics
        counts = {name: len(await self._producer.partitions_for(name))
                  for name in copartitioned(topics)}
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
        sweep_interval = self.settings.sweep_interval_ms / 1000
        try:
            while True:
                self._loop_turned = time.monotonic()
                if self._fatal is not None:
                    raise self._fatal
                if self._stopping.is_set():
                    return
                if self._pending_events == 0:
                    self._last_checkpoint = time.monotonic()  # the interval starts with new work
                wait = max(0.0, min(interval - (time.monotonic() - self._last_checkpoint),
                                    self._next_sweep - time.monotonic()))
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
                        await self._process(tp, records)
                    if time.monotonic() >= self._next_sweep:
                        self._next_sweep = time.monotonic() + sweep_interval
                        await self._sweep.between_batches()
                    await self._writer.send()  # offers go out now, not at the checkpoint
                    if self._offers_caused_at:
                        self._observe_offer_latency()
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
                self._note_error(self._fatal)
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
        if self._connecting is not None:  # start() closes what it had opened
            self._connecting.cancel()
        await self.broker.stop()
        self._rebalance.cancel_restore()  # a restore can take minutes; the next owner redoes it
        try:
            await asyncio.wait_for(self._final_checkpoint(), FINAL_CHECKPOINT_TIMEOUT_S)
        except Exception as exc:
            log.error("final checkpoint failed (%s): the work since the last one is left "
                      "to the partitions' next owner", describe(exc))
            self._fatal = self._fatal or exc
        finally:
            try:
                await asyncio.wait_for(self._close_clients(), CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("the Kafka clients did not close in %g s (is the broker "
                            "answering?): stopping without them", CLOSE_TIMEOUT_S)
            self._ready.clear()
            self._stopped.set()

    async def _final_checkpoint(self) -> None:
        async with self._lock:  # the batch or rebalance step in progress ends first
            if self._fatal is None and self._checkpointer is not None:
                await self._checkpoint(wait=True)

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

    async def switch_rules(self, book: RuleBook) -> None:
        """Decide with `book` from the next batch on (streams/runtime/live_rules.py).
        Under the lock: between two batches, never mid-batch nor during a rebalance
        step. Each partition's due times are recomputed under the new rules
        (Timeline.use), a partition at a time so that heartbeats get their turns;
        partitions set aside at a revocation catch up when taken back."""
        async with self._lock:
            self.book = book
            self.metrics.rules_switches += 1
            for store in list(self.stores.values()):
                if store.timeline is not None:
                    store.timeline.use(book)
                await asyncio.sleep(0)

    # -- the hot path ------------------------------------------------------

    async def _process(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        """Decide each record in order, with the partition's timers swept as its
        clock moves (the steps of triggers/timeline.py, so that replay agrees)."""
        store = self.stores.get(tp.partition)
        if store is None or not records:
            return  # revoked while the batch was in flight: the new owner reads it
        assert self._router is not None
        timeline = store.timeline
        assert timeline is not None
        schedule = timeline.schedule
        router, metrics = self._router, self.metrics
        partitions = self.partitions
        max_skew = self.settings.max_future_skew_s
        future_reason = (f"occurred_at: more than {max_skew:g} s after the record was produced "
                         "(its partition's clock would jump ahead)")
        accounts, applied, dirty = store.accounts, store.applied, store.dirty
        applied_by_type = metrics.events_by_outcome[APPLIED]  # event type -> count
        caused_at = self._offers_caused_at
        for record in records:
            try:
                if record.value is None:
                    raise InvalidEvent("empty record (no value)")
                event = decode_event(record.value)
            except InvalidEvent as exc:
                router.dead_letter(record, exc.reason)
                continue
            account_id, event_type = event.account_id, event.type
            home = home_partition(account_id, partitions)
            if home != tp.partition:
                router.forward(record, home, event_type)
                continue
            now = event.occurred_at.timestamp()
            if now > schedule.clock:
                if record.timestamp > 0 and now > record.timestamp / 1000 + max_skew:
                    router.dead_letter(record, future_reason, FUTURE, event_type)
                    continue
                schedule.clock = now  # the timers due by this event's time fire first
                if schedule.has_due():
                    await self._sweep.fire(store)
            if applied.get(account_id, -1) >= record.offset:
                metrics.count(REPLAYED, event_type)
                continue
            origin = forwarded_from(record) if record.headers else None
            if origin is not None and store.already_forwarded(account_id, *origin):
                metrics.count(REPLAYED, event_type)  # forwarded again after a crash at its origin
                continue
            state = accounts.get(account_id)
            if state is None:
                state = accounts[account_id] = AccountState(account_id)
            try:
                result = timeline.apply(state, event)
            except Exception as exc:  # a bug or an input the contract let through
                log.error("event at %s/%d/%d could not be evaluated: %s", tp.topic,
                          tp.partition, record.offset, type(exc).__name__)
                router.dead_letter(record, f"could not be evaluated: {type(exc).__name__}",
                                   NOT_EVALUATED, event_type)
                continue
            applied[account_id] = record.offset
            if origin is not None:
                store.applied_forward(account_id, *origin)
            dirty.add(account_id)
            if result is NOTHING:  # most events: state updated, nothing fired
                try:
                    applied_by_type[event_type] += 1
                except KeyError:  # a type that EVENT_TYPES does not list
                    applied_by_type[event_type] = 1
            else:
                metrics.count(DUPLICATE if result.duplicate else
                              IGNORED if result.ignored is not None else APPLIED, event_type)
                sent = self.publish(store, result)
                if sent and record.timestamp > 0:
                    caused_at.extend([record.timestamp] * sent)
            if schedule.has_due():
                await self._sweep.fire(store)  # what this event made due (a renewal learned late)
        metrics.events += len(records)
        self._pending_events += len(records)
        self._positions[tp] = records[-1].offset + 1
        self.last_record_at[tp.partition] = records[-1].timestamp

    def publish(self, store: PartitionState, result: Evaluation) -> int:
        """Count what was decided and send its offers and outcomes, but not those a
        crash made the engine decide again after they were sent (see checkpoint.py).
        Returns the number of offers sent."""
        assert self._writer is not None
        metrics = self.metrics
        metrics.decisions.add(result)
        for suppression in result.suppressed:
            metrics.held_back[suppression.guard, suppression.trigger_id] += 1
        if result.timer_error is not None:
            log.error("due times of an account on partition %d could not be computed: %s; "
                      "they wait for its next event", store.partition, result.timer_error)
            metrics.timer_errors += 1
        already_sent = store.already_sent
        sent = 0
        for offer in result.offers:
            if already_sent and offer.offer_id in already_sent:
                already_sent.discard(offer.offer_id)
                metrics.offers_not_resent += 1
                continue
            self._writer.write(self.settings.topics.offers, store.partition,
                               offer.account_id.encode(), offer.model_dump_json().encode())
            metrics.offers_sent[offer.trigger_id, offer.kind] += 1
            sent += 1
        already_reported = store.already_reported
        for outcome in result.outcomes:
            if already_reported and outcome.outcome_id in already_reported:
                already_reported.discard(outcome.outcome_id)
                continue
            self._writer.write(self.settings.topics.outcomes, store.partition,
                               outcome.account_id.encode(), outcome.model_dump_json().encode())
        return sent

    def _observe_offer_latency(self) -> None:
        """Event to offer: from the timestamp of the record that caused an offer
        (the producer's CreateTime, or the broker's LogAppendTime) to now, when the
        batch's offers were handed to the producer. Offers of the sweep have no
        causing record and are not observed. A producer's clock ahead of ours
        counts as 0."""
        now_ms = time.time() * 1000
        observe = self.metrics.event_to_offer.observe
        for caused_at in self._offers_caused_at:
            observe(max(0.0, now_ms - caused_at) / 1000)
        self._offers_caused_at.clear()

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

    # -- health ------------------------------------------------------------

    async def _ask_broker(self) -> None:
        assert self._producer is not None
        await self._producer.client.fetch_all_metadata()

    def _note_error(self, exc: BaseException) -> None:
        self.last_error = ErrorNote.of(exc)

    def health(self) -> EngineHealth:
        """Facts for the probes; call `refresh_gauges()` first for a fresh lag."""
        now = time.monotonic()
        fatal = self._fatal
        return EngineHealth(
            connected=self._checkpointer is not None and not self.stopping,
            failed=ErrorNote.of(fatal) if fatal is not None else None,
            ready=self.ready,
            rebalancing=self._rebalance.busy,
            loop_idle_s=None if self._loop_turned is None else now - self._loop_turned,
            broker_silent_s=self.broker.silent_for(),
            lag=sum(self.metrics.lag.values()),
        )

    def refresh_gauges(self) -> None:
        """Accounts held, and lag per partition. In records: past the offset this
        worker last committed, by the high watermark of the last fetch (ListOffsets
        is not reliable on every broker). In seconds: 0 when every record the last
        fetch knew of has been decided, else the age of the last record decided (by
        its timestamp): an upper bound of the oldest waiting record's age, which
        grows by a second a second while the loop stalls. Computed when read, so
        that a stalled loop shows a lag that grows: aiokafka keeps fetching in the
        background."""
        if self._consumer is None or self._checkpointer is None:
            return
        committed = self._checkpointer.committed
        lag, lag_seconds = {}, {}
        now_ms = time.time() * 1000
        for tp in self._consumer.assignment():
            highwater, done = self._consumer.highwater(tp), committed.get(tp)
            if highwater is not None and done is not None:
                lag[tp.partition] = max(0, highwater - done)
            last_record_at = self.last_record_at.get(tp.partition)
            if self._sweep.caught_up(tp):
                lag_seconds[tp.partition] = 0.0
            elif last_record_at is not None:
                lag_seconds[tp.partition] = max(0.0, now_ms - last_record_at) / 1000
        metrics = self.metrics
        metrics.lag, metrics.lag_seconds = lag, lag_seconds
        stores = self.stores.values()
        metrics.partitions = len(self.stores)
        metrics.accounts = sum(len(store.accounts) for store in stores)
        metrics.timers_scheduled = sum(
            len(store.timeline.schedule) for store in stores if store.timeline is not None
        )
        metrics.clocks = {store.partition: store.clock for store in stores
                          if store.clock != float("-inf")}
