"""The sweep: the timers of the partitions this worker holds, fired as their
clocks move (ARCHITECTURE.md, "Time"; Kafka Streams calls this a punctuator).

It runs inside the batch loop, under the engine's lock, so the state has one
writer: per record, when the record's time moves its partition's clock (and
after it, for what it made due), and between batches every
`sweep_interval_ms`, when, in `wall` mode, each caught-up partition's clock
moves to the wall clock. What a wake changes is checkpointed like the work of
an event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiokafka import TopicPartition

from streams.runtime.state_store import PartitionState
from triggers.decide import NOTHING

if TYPE_CHECKING:
    from streams.runtime.loop import Engine

log = logging.getLogger(__name__)

# Accounts woken per step of a sweep before the event loop gets a turn: ~1k wakes
# take tens of milliseconds, far below a heartbeat interval.
SWEEP_CHUNK = 1_000


class Sweep:
    """`await sweep.fire(store)` per partition; `await sweep.between_batches()`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def fire(self, store: PartitionState) -> None:
        """Wake the partition's accounts due by its clock; what they change is
        checkpointed like the work of an event. In chunks: a sweep of many due
        accounts (a cohort that signed up together) must not starve heartbeats."""
        engine = self.engine
        timeline = store.timeline
        assert timeline is not None
        while True:
            woken = timeline.sweep(limit=SWEEP_CHUNK)
            for state, result in woken:
                store.dirty.add(state.account_id)
                engine._pending_events += 1
                engine.metrics.timer_wakes += 1
                if isinstance(result, Exception):
                    log.error("timers of an account on partition %d could not be decided: "
                              "%s; they try again later", store.partition,
                              type(result).__name__)
                    engine.metrics.timer_errors += 1
                elif result is not NOTHING:
                    engine.publish(store, result)
            if len(woken) < SWEEP_CHUNK:
                return
            await asyncio.sleep(0)

    async def between_batches(self) -> None:
        """Between batches: in wall mode, move each caught-up partition's clock to the
        wall clock; then fire what is due. A partition with a backlog keeps its
        event-time clock, so a timer never jumps ahead of events still waiting."""
        engine = self.engine
        consumer = engine._consumer
        assert consumer is not None
        wall = engine.settings.clock == "wall"
        for tp in consumer.assignment():
            store = engine.stores.get(tp.partition)
            if store is None or store.timeline is None:
                continue
            schedule = store.timeline.schedule
            if wall and self.caught_up(tp):
                schedule.advance(time.time())
            if schedule.has_due():
                await self.fire(store)

    def caught_up(self, tp: TopicPartition) -> bool:
        """Every record of the partition known to the last fetch has been decided.
        Read from the consumer's own position, without waiting: `position()` may
        wait for an offset reset, and this runs under the engine's lock."""
        consumer = self.engine._consumer
        assert consumer is not None
        end = (consumer.last_stable_offset(tp) if self.engine.settings.transactions
               else consumer.highwater(tp))
        # aiokafka keeps the position in its subscription state; no public sync read.
        subscription = consumer._subscription.subscription
        assignment = subscription.assignment if subscription is not None else None
        partition_state = assignment.state_value(tp) if assignment is not None else None
        if end is None or partition_state is None or not partition_state.has_valid_position:
            return False
        position: int = partition_state.position
        return bool(position >= end)
