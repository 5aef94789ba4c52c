"""Follow a topic: the offers topic by default (what in-app messaging would
receive); a dead-letter topic prints its records as `upsell dlq` does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from schemas.offers import Offer
from streams.cli.dlq import DeadLetter
from streams.cli.pretty import describe_offer
from streams.runtime.routing import DLQ_REASON


async def follow_records(
    bootstrap_servers: str, topic: str, from_beginning: bool = False,
    **client_options: Any,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records as they arrive, from every partition.

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
                    yield record
    finally:
        await consumer.stop()


async def follow_offers(
    bootstrap_servers: str, topic: str, from_beginning: bool = False,
    **client_options: Any,
) -> AsyncIterator[Offer]:
    """Yield the offers of the offers topic as they arrive."""
    async for record in follow_records(bootstrap_servers, topic, from_beginning,
                                       **client_options):
        if record.value is not None:
            yield Offer.model_validate_json(record.value)


def describe_record(record: ConsumerRecord[bytes, bytes], pretty: bool) -> str | None:
    """An offer as JSON (or one readable line); a dead letter without its value
    (customer data), as `upsell dlq` lists it; anything else named as not an
    offer, never dumped. None for a tombstone."""
    if any(name == DLQ_REASON for name, _ in record.headers or ()):
        letter = DeadLetter.from_record(record)
        return letter.describe() if pretty else orjson.dumps(letter.to_dict()).decode()
    if record.value is None:
        return None
    try:
        offer = Offer.model_validate_json(record.value)
    except ValidationError:
        if pretty:
            return (f"{record.topic} {record.partition}:{record.offset}: not an offer "
                    f"({len(record.value)} bytes)")
        return orjson.dumps({"topic": record.topic, "partition": record.partition,
                             "offset": record.offset, "not_an_offer": True,
                             "value_bytes": len(record.value)}).decode()
    return describe_offer(offer) if pretty else offer.model_dump_json()
