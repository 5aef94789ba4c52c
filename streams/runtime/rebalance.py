"""State follows the group's assignment: checkpoint and set aside on
revocation, restore from the changelog on assignment, before any record of a
partition is processed.

aiokafka calls these hooks from its coordination task and only logs what
they raise, so a failure is kept in the engine's `_fatal` for `run()` to
raise. They take the engine's lock (one batch or one rebalance step at a
time) and return at once when the engine is stopping or has failed: see
streams/runtime/loop.py for why that matters.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiokafka import ConsumerRebalanceListener, TopicPartition

from streams.runtime.errors import EngineError
from streams.runtime.state_store import PartitionState, restore
from triggers.exceptions import StateFormatError

if TYPE_CHECKING:
    from streams.runtime.loop import Engine

log = logging.getLogger(__name__)

# aiokafka's generation id while the consumer is not a member of the group.
_NO_GENERATION = -1
# A revocation must finish well inside the group's rebalance timeout, or the
# group moves on without this worker while it still writes.
REVOKE_SHARE_OF_REBALANCE_TIMEOUT = 0.6

Hook = Callable[["Rebalance", set[TopicPartition]], Awaitable[None]]


def _counted(hook: Hook) -> Hook:
    """Count the hook as a step under way while it runs (see `Rebalance.busy`)."""
    @functools.wraps(hook)
    async def counted(self: Rebalance, partitions: set[TopicPartition]) -> None:
        self._steps += 1
        try:
            await hook(self, partitions)
        finally:
            self._steps -= 1
    return counted


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """The engine's rebalance listener."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Revoked partitions' state, with the offset this worker last committed there.
        self._set_aside: dict[int, tuple[PartitionState, int | None]] = {}
        self._restoring: asyncio.Task[dict[int, PartitionState]] | None = None
        self._steps = 0  # hooks running now, waiting for the lock included

    @property
    def busy(self) -> bool:
        """A revocation or an assignment is under way: the loop waits for it, and
        /livez must not take that for a stall (a restore can take minutes)."""
        return self._steps > 0

    def cancel_restore(self) -> None:
        if self._restoring is not None:
            self._restoring.cancel()

    def _gone(self) -> bool:
        engine = self.engine
        return engine.stopping or engine._fatal is not None

    def _in_group(self) -> bool:
        """False once the coordinator has dropped this member (its session expired,
        e.g. after a stall): another worker may own its partitions by now. aiokafka
        has no public accessor for this; its generation goes back to -1."""
        coordinator = getattr(self.engine._consumer, "_coordinator", None)
        return getattr(coordinator, "generation", 0) != _NO_GENERATION

    @_counted
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Checkpoint, then set the partitions' state aside: a rebalance revokes every
        partition and often gives most of them straight back. Nothing is set aside
        after a failure: a worker that could not checkpoint must not reuse state
        another worker may have moved on from. A worker already dropped from the
        group writes nothing (the partitions' next owner redoes the work since the
        last checkpoint)."""
        if self._gone():
            return  # stop() makes the final checkpoint; a failed worker makes none
        engine = self.engine
        async with engine._lock:
            if self._gone():
                return
            engine._generation += 1
            self._set_aside.clear()
            try:
                await self._checkpoint_revoked(revoked)
            except Exception as exc:
                log.error("checkpoint on revocation failed (%s): the worker will restart",
                          type(exc).__name__)
                engine._fatal = engine._fatal or exc
            finally:
                for tp in revoked:
                    engine.stores.pop(tp.partition, None)
                    engine._positions.pop(tp, None)
                    engine.last_record_at.pop(tp.partition, None)
                engine._ready.clear()

    async def _checkpoint_revoked(self, revoked: set[TopicPartition]) -> None:
        engine = self.engine
        checkpointer = engine._checkpointer
        assert checkpointer is not None
        if not any(tp.partition in engine.stores for tp in revoked):
            return
        if not self._in_group():
            log.warning("dropped from the group before the revocation: "
                        "state since the last checkpoint is left to the next owner")
            checkpointer.abandon()
            return
        # All partitions, not only the revoked ones: with transactions a commit
        # covers every output sent so far, so it must carry every offset.
        deadline = REVOKE_SHARE_OF_REBALANCE_TIMEOUT * engine._rebalance_timeout_ms / 1000
        await asyncio.wait_for(engine._checkpoint(wait=True), deadline)
        for tp in revoked:
            if tp.partition in engine.stores:
                self._set_aside[tp.partition] = (
                    engine.stores[tp.partition], checkpointer.committed.get(tp)
                )

    @_counted
    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Take back state set aside if the group's committed offset is still the
        one this worker committed (nobody else moved on); restore every other
        partition from the changelog."""
        if self._gone():
            return
        engine = self.engine
        async with engine._lock:
            if self._gone():
                return
            engine._generation += 1
            engine.metrics.rebalances += 1
            try:
                await self._take_partitions(assigned)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not (engine.stopping and task is not None and not task.cancelling()):
                    raise  # cancelled from outside, not by stop() cancelling the restore
            except Exception as exc:
                # Our own errors say what to do and carry no record content; others may.
                ours = isinstance(exc, EngineError | StateFormatError)
                log.error("taking partitions failed (%s: %s): the worker will restart",
                          type(exc).__name__, exc if ours else "")
                engine._fatal = engine._fatal or exc

    async def _take_partitions(self, assigned: set[TopicPartition]) -> None:
        engine = self.engine
        consumer, settings = engine._consumer, engine.settings
        assert consumer is not None
        beyond = sorted(tp.partition for tp in assigned if tp.partition >= engine.partitions)
        if beyond:
            raise EngineError(
                f"the events topic now has more partitions than the {engine.partitions} it "
                f"had at start (assigned {beyond}): an account's partition would change and "
                "its state would be lost; give the topics back their partition count, or "
                "move to a new set of topics"
            )
        new = []
        for tp in sorted(assigned):
            if tp.partition in engine.stores:
                continue
            aside = self._set_aside.pop(tp.partition, None)
            if aside is not None and aside[1] == await consumer.committed(tp):
                store = engine.stores[tp.partition] = aside[0]
                if store.timeline is not None and store.timeline.book is not engine.book:
                    store.timeline.use(engine.book)  # the rules changed while it was aside
            else:
                new.append(tp.partition)
        self._set_aside.clear()
        started = time.monotonic()
        topics = settings.topics
        self._restoring = asyncio.create_task(restore(
            topics.changelog, new, settings.kafka.client_options(),
            engine.bootstrap_servers, settings.fetch_max_wait_ms,
            committed_only=settings.transactions,
            sent_topics=None if settings.transactions else (topics.offers, topics.outcomes),
        ))
        try:
            restored = await self._restoring
        finally:
            self._restoring = None
        for partition, store in restored.items():
            await self._check_position(TopicPartition(topics.events, partition), store)
            # The wall clock may find timers due long ago (the worker was down):
            # an offer that would arrive expired is not made.
            store.attach(engine.book, drop_expired=settings.clock == "wall")
        engine.stores.update(restored)
        engine.metrics.restore_seconds = time.monotonic() - started
        engine.metrics.restore_durations.observe(engine.metrics.restore_seconds)
        engine.metrics.restored_accounts = sum(len(s.accounts) for s in restored.values())
        engine._ready.set()
        log.info("assigned partitions %s", sorted(engine.stores))

    async def _check_position(self, tp: TopicPartition, store: PartitionState) -> None:
        """The group's committed offset must exist where the changelog holds state:
        state with no committed offset means the events topic was recreated (its
        offsets start again at 0, and every event would look already applied) or
        the group id changed. A partition seen for the first time gets its start
        committed at once, so that this holds even after a crash between the
        first changelog write and the first offset commit."""
        consumer = self.engine._consumer
        assert consumer is not None
        if await consumer.committed(tp) is not None:
            return
        if store.applied:
            raise EngineError(
                f"{tp.topic} partition {tp.partition} has no committed offset for group "
                f"{self.engine.settings.group_id!r}, but the changelog holds "
                f"{len(store.applied)} accounts applied up to offset {store.highest_applied}: "
                "the events topic was recreated or the group id changed. Restore the "
                "group's offsets, or start over with a new changelog topic"
            )
        # Not seek + position: a seek here races the fetcher's own first positioning.
        start = (await consumer.beginning_offsets([tp]))[tp]
        await consumer.commit({tp: start})
