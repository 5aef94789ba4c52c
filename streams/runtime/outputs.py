"""Writing records in per-partition batches.

aiokafka's per-record `send()` costs about as much CPU as our whole decision
(measured: ~116k records/s on this machine, against ~197k/s when we fill the
batches ourselves), so the engine appends to one open batch per
topic-partition and hands full batches to the producer. Batches go through the
producer's accumulator, so they join an open transaction like any send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer

Headers = Sequence[tuple[str, bytes]]

# The largest batch the engine builds, and so the largest record it sends.
# Apache Kafka refuses batches over `message.max.bytes` (1 MiB by default)
# with MessageSizeTooLarge, which would fail the checkpoint on every restart:
# a record that cannot fit is refused here instead (RecordTooLarge), where
# the caller can still decide what to do with it.
MAX_BATCH_BYTES = 1024 * 1024
# Room for the batch header and the record's own framing.
_BATCH_OVERHEAD = 512


class RecordTooLarge(ValueError):
    """A single record larger than the largest batch the broker accepts."""


class Delivery(NamedTuple):
    """A batch handed to the producer: where it goes, how many records, and
    the future that resolves with its base offset once acknowledged."""

    topic: str
    partition: int
    records: int
    future: asyncio.Future[Any]


def record_size(key: bytes | None, value: bytes | None, headers: Headers = ()) -> int:
    """An upper bound of a record's size in a batch."""
    size = len(key or b"") + len(value or b"") + 32
    for name, header_value in headers:
        size += len(name) + len(header_value) + 8
    return size


class BatchWriter:
    """Collects records per topic-partition; `send()` hands them to the producer."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[tuple[str, int], Any] = {}  # aiokafka BatchBuilder
        self._full: list[tuple[str, int, Any]] = []
        self._in_flight: list[Delivery] = []

    def write(
        self, topic: str, partition: int, key: bytes | None, value: bytes | None,
        headers: Headers = (),
    ) -> None:
        """Queue one record. Nothing is sent until `send()`. Raises RecordTooLarge,
        and queues nothing, if the record could never be delivered."""
        if len(value or b"") > MAX_BATCH_BYTES // 2:  # cheap test first: most records are small
            size = record_size(key, value, headers)
            if size > MAX_BATCH_BYTES - _BATCH_OVERHEAD:
                raise RecordTooLarge(f"a record of {size} bytes for {topic}")
        header_list = list(headers)  # aiokafka's record builder takes only a list
        slot = (topic, partition)
        batch = self._open.get(slot)
        if batch is None:
            batch = self._open[slot] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=header_list) is None:
            self._full.append((topic, partition, batch))
            batch = self._open[slot] = self._producer.create_batch()
            batch.append(key=key, value=value, timestamp=None, headers=header_list)

    async def send(self) -> None:
        """Hand every queued batch to the producer; delivery goes on in the background."""
        self._full.extend((topic, partition, batch) for (topic, partition), batch in self._open.items())
        self._open.clear()
        full, self._full = self._full, []
        for topic, partition, batch in full:
            future = await self._producer.send_batch(batch, topic, partition=partition)
            self._in_flight.append(Delivery(topic, partition, batch.record_count(), future))

    def take_in_flight(self, topic: str | None = None) -> list[Delivery]:
        """Everything sent so far (to `topic` only, if given); the caller now owns the wait."""
        if topic is None:
            in_flight, self._in_flight = self._in_flight, []
            return in_flight
        taken = [d for d in self._in_flight if d.topic == topic]
        self._in_flight = [d for d in self._in_flight if d.topic != topic]
        return taken
