"""Read the whole outcomes topic, every partition to its end: what `upsell report`
computes from (all workers' results, not one process's counters)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.outcomes import Outcome
from streams.cli.offsets import topic_partitions
from streams.runtime.state_store import read_to_end


class NoOutcomesTopic(LookupError):
    """The topic does not exist (no worker has run with this name yet)."""


async def read_outcomes(bootstrap_servers: str, topic: str, **client_options: Any) -> list[Outcome]:
    partitions = await topic_partitions(bootstrap_servers, client_options, topic)
    if not partitions:
        raise NoOutcomesTopic(topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=100, **client_options)
    await consumer.start()
    try:
        outcomes: list[Outcome] = []

        def keep(tp: TopicPartition, key: bytes, value: bytes | None) -> None:
            if value is not None:
                outcomes.append(Outcome.model_validate_json(value))

        await read_to_end(consumer, dict.fromkeys(partitions, 0), committed_only=False,
                          fetch_max_wait_ms=100, apply=keep)
        return outcomes
    finally:
        await consumer.stop()
