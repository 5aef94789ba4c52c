"""Follow the offers topic: what in-app messaging would receive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.offers import Offer


async def follow_offers(
    bootstrap_servers: str, topic: str, from_beginning: bool = False,
    **client_options: Any,
) -> AsyncIterator[Offer]:
    """Yield offers as they arrive, from every partition, without joining a group
    (tailing must not take partitions away from a real consumer)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=100,
        **client_options,
    )
    await consumer.start()
    try:
        partitions: set[int] = set()
        while not partitions:  # the topic may not exist yet
            if topic in await consumer.topics():
                partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await asyncio.sleep(0.5)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.value is not None:
                        yield Offer.model_validate_json(record.value)
    finally:
        await consumer.stop()
