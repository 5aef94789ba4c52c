"""Follow the offers topic: what in-app messaging would receive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.offers import Offer


async def follow_offers(
    bootstrap_servers: str, topic: str, from_beginning: bool = False,
    **client_options: Any,
) -> AsyncIterator[Offer]:
    """Yield offers as they arrive, from every partition.

    No consumer group (group_id None): aiokafka then assigns every partition of
    the topic to this consumer, including partitions of a topic created later,
    and tailing takes no partition away from a real consumer.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest", fetch_max_wait_ms=100,
        metadata_max_age_ms=2000, **client_options,
    )
    await consumer.start()
    try:
        # Subscribing to a missing topic would make a broker with auto-creation
        # create it with its default layout, not the engine's: wait for it instead.
        while topic not in await consumer.topics():
            await asyncio.sleep(0.5)
        consumer.subscribe([topic])
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.value is not None:
                        yield Offer.model_validate_json(record.value)
    finally:
        await consumer.stop()
