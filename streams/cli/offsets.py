"""Where partitions end, measured the way every Kafka-compatible broker answers
right, and reading a partition range up to there: for the commands that look
at topics (lag, dlq)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from streams.cli.ops_errors import WatermarkUnknown

# How long to wait for the broker to report every partition's watermark. A fetch
# that finds no data is held for the consumer's fetch_max_wait_ms on the
# embedded broker (100 ms below), so a healthy broker answers in well under a second.
WATERMARK_TIMEOUT_S = 15.0


async def high_watermarks(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition],
    timeout: float = WATERMARK_TIMEOUT_S,
) -> dict[TopicPartition, int]:
    """The high watermark (the offset the next record will get) of each partition,
    from fetch responses. Not ListOffsets (`end_offsets`) alone: the embedded broker
    often answers it with the base offset of the last record batch (952 for a
    partition of 1000 records). That answer is never past the end, and exact on
    Apache Kafka, so a fetch from it returns at most the last batch, and the fetch
    response carries the true watermark. Replaces the consumer's assignment."""
    consumer.assign(list(partitions))
    estimates = await consumer.end_offsets(list(partitions))
    for tp in partitions:
        consumer.seek(tp, estimates[tp])
    deadline = time.monotonic() + timeout
    missing = list(partitions)
    while missing:
        if time.monotonic() > deadline:
            names = ", ".join(f"{tp.topic}/{tp.partition}" for tp in missing)
            raise WatermarkUnknown(f"the broker reported no high watermark for {names} "
                                   f"within {timeout:g} s")
        await consumer.getmany(*missing, timeout_ms=200)
        missing = [tp for tp in missing if consumer.highwater(tp) is None]
    return {tp: consumer.highwater(tp) for tp in partitions}


async def read_between(
    consumer: AIOKafkaConsumer, starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record from each start offset up to (not including) its end offset,
    partition by partition in turn as fetched. Replaces the consumer's assignment."""
    remaining = {tp for tp, start in starts.items() if start < ends[tp]}
    consumer.assign(list(remaining))
    for tp in remaining:
        consumer.seek(tp, starts[tp])
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


async def topic_layouts(bootstrap_servers: str, client_options: dict[str, Any]
                        ) -> dict[str, list[dict[str, Any]]]:
    """Every topic's partitions as the broker describes them (partition, leader,
    replicas, isr), by topic name. One request for all topics, never one naming a
    topic: a broker that creates topics on demand would create a missing one."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        return {described["topic"]: sorted(described["partitions"], key=itemgetter("partition"))
                for described in await admin.describe_topics()}
    finally:
        await admin.close()


async def topic_partitions(bootstrap_servers: str, client_options: dict[str, Any], topic: str
                           ) -> list[TopicPartition] | None:
    """The partitions of a topic; None if it does not exist."""
    layout = (await topic_layouts(bootstrap_servers, client_options)).get(topic)
    if layout is None:
        return None
    return [TopicPartition(topic, p["partition"]) for p in layout]
