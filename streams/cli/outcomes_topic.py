"""Read the whole outcomes topic, every partition to its end: what `upsell report`
computes from (all workers' results, not one process's counters)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.outcomes import Outcome
from streams.runtime.state_store import read_to_end


class NoOutcomesTopic(LookupError):
    """The topic does not exist (no worker has run with this name yet)."""


async def read_outcomes(bootstrap_servers: str, topic: str, **client_options: Any) -> list[Outcome]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=100, **client_options)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer.topics()  # refresh the metadata once: it may be new
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise NoOutcomesTopic(topic)
        outcomes: list[Outcome] = []

        def keep(tp: TopicPartition, key: bytes, value: bytes | None) -> None:
            if value is not None:
                outcomes.append(Outcome.model_validate_json(value))

        await read_to_end(consumer, {TopicPartition(topic, p): 0 for p in partitions},
                          committed_only=False, fetch_max_wait_ms=100, apply=keep)
        return outcomes
    finally:
        await consumer.stop()
