"""Where records go: the partition an account lives on (aiokafka's own default
partitioner: murmur2, the Java client's formula, so keyed producers in any
language agree), and the dead letters and forwards that leave the hot path."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord

from streams.runtime.counters import (
    DEAD_LETTERED,
    FORWARDED,
    INVALID,
    TOO_LARGE,
    UNDECODED,
    EngineMetrics,
)
from streams.runtime.outputs import BatchWriter, RecordTooLarge
from streams.runtime.settings import TopicSettings

# The header a forwarded event carries: "<topic>/<partition>/<offset>" of its origin.
FORWARDED_FROM = "upsell.forwarded_from"
# The headers of a dead letter (a contract: `upsell dlq` reads them): why it was
# refused, where the original record was, and the size of a value too large to keep.
DLQ_REASON = "upsell.error"
DLQ_SOURCE_TOPIC = "upsell.source.topic"
DLQ_SOURCE_PARTITION = "upsell.source.partition"
DLQ_SOURCE_OFFSET = "upsell.source.offset"
DLQ_VALUE_OMITTED = "upsell.value_omitted"
_PARTITIONER = DefaultPartitioner()


@lru_cache(maxsize=262_144)
def home_partition(account_id: str, partitions: int) -> int:
    """The partition that holds this account's events, state and offers.

    The partitioner's murmur2 is pure Python (~4 us); the cache makes the
    per-event check cheap.
    """
    all_partitions = list(range(partitions))
    partition: int = _PARTITIONER(account_id.encode(), all_partitions, all_partitions)
    return partition


class Router:
    """Records that leave the hot path: dead letters and forwarded events."""

    def __init__(self, writer: BatchWriter, topics: TopicSettings, metrics: EngineMetrics) -> None:
        self._writer = writer
        self._topics = topics
        self._metrics = metrics

    def dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str,
                    category: str = INVALID, event_type: str = UNDECODED) -> None:
        """Keep the original bytes, and say why and where they came from. A record
        too large to carry with these headers is dead-lettered without its value;
        the source offset in the headers still finds it. `category` and
        `event_type` count it (metric labels: never the reason, which may name
        the event's content)."""
        headers = [
            (DLQ_REASON, reason.encode()),
            (DLQ_SOURCE_TOPIC, record.topic.encode()),
            (DLQ_SOURCE_PARTITION, str(record.partition).encode()),
            (DLQ_SOURCE_OFFSET, str(record.offset).encode()),
        ]
        dlq = self._topics.dlq
        try:
            self._writer.write(dlq, record.partition, record.key, record.value, headers)
        except RecordTooLarge:
            headers.append((DLQ_VALUE_OMITTED, str(len(record.value or b"")).encode()))
            self._writer.write(dlq, record.partition, record.key, None, headers)
        self._metrics.dead_letters[category] += 1
        self._metrics.count(DEAD_LETTERED, event_type)

    def forward(self, record: ConsumerRecord[bytes, bytes], home: int, event_type: str) -> None:
        """An event on the wrong partition (a producer with another partitioner):
        send it on to its account's partition, where its state lives."""
        headers = [*(record.headers or ()), (
            FORWARDED_FROM, f"{record.topic}/{record.partition}/{record.offset}".encode()
        )]
        try:
            self._writer.write(self._topics.events, home, record.key, record.value, headers)
        except RecordTooLarge:
            self.dead_letter(record, "too large to forward to the account's partition",
                             TOO_LARGE, event_type)
            return
        self._metrics.count(FORWARDED, event_type)


def forwarded_from(record: ConsumerRecord[bytes, bytes]) -> tuple[int, int] | None:
    """(origin partition, origin offset) of a forwarded event, from its header."""
    for name, value in record.headers:
        if name == FORWARDED_FROM:
            _, partition, offset = value.decode().rsplit("/", 2)
            return int(partition), int(offset)
    return None
