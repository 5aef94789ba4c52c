"""Send events to the engine's events topic: keyed by account with Kafka's
default partitioner, batched, each send acknowledged by the broker.

The partitioner is aiokafka's default, murmur2 of the key as in the Java client:
the partition the engine keeps the account on. (Clients built on librdkafka,
such as confluent-kafka and most non-JVM ones, default to consistent_random,
which is crc32: set partitioner=murmur2_random there. An event on another
partition still counts; the engine forwards it, at a cost.)

The producer never lets a broker create the events topic: a broker with
auto.create.topics.enable would make it with its own partition count, and the
engine refuses topics whose counts differ. Before the first send it looks the
topic up in a metadata request for all topics (one naming the topic is what
triggers auto-creation) and refuses to send if it is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from upsell_client.errors import TopicNotReady
from upsell_client.events import Event

EVENTS_TOPIC = "usage-events"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The broker's acknowledgement of one event (acks=all: every in-sync replica has it)."""

    event_id: str
    topic: str
    partition: int
    offset: int


class UpsellProducer:
    """`async with UpsellProducer(bootstrap) as producer: await producer.send_and_wait(event)`.

    `expected_partitions`: refuse to send unless the topic has that many partitions
    (the engine's count). `linger_ms`: how long a batch waits for more events.
    Other keyword arguments go to aiokafka's producer (security_protocol,
    sasl_mechanism, ssl_context, ...).
    """

    def __init__(self, bootstrap_servers: str, *, topic: str = EVENTS_TOPIC,
                 expected_partitions: int | None = None, linger_ms: int = 10,
                 **client_options: Any) -> None:
        if "partitioner" in client_options:
            raise ValueError("the partitioner is Kafka's default (murmur2), where the engine "
                             "keeps each account; another one costs the engine a forward per event")
        self.topic = topic
        self.expected_partitions = expected_partitions
        self._topic_checked = False
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", linger_ms=linger_ms,
            partitioner=DefaultPartitioner(), **client_options,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        """Send what is queued, then disconnect."""
        await self._producer.stop()

    async def __aenter__(self) -> UpsellProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def check_topic(self) -> int:
        """The events topic's partition count, or TopicNotReady. Done before the first
        send; call it at start to fail early."""
        cluster = await self._producer.client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(self.topic)
        if not partitions:
            raise TopicNotReady(
                f"topic '{self.topic}' does not exist: nothing sent. Sending would let the broker "
                "create it with a partition count of its own, and the engine refuses topics whose "
                "counts differ. Start an upsell worker once (it creates its topics), or create "
                f"'{self.topic}' with the partition count of the engine's other topics."
            )
        if self.expected_partitions is not None and len(partitions) != self.expected_partitions:
            raise TopicNotReady(
                f"topic '{self.topic}' has {len(partitions)} partitions, not the "
                f"{self.expected_partitions} expected: nothing sent. Accounts would land on "
                "partitions the engine does not expect; fix the topic or expected_partitions."
            )
        self._topic_checked = True
        return len(partitions)

    async def send(self, event: Event) -> asyncio.Future[Delivery]:
        """Queue one event (waits only while the send buffer is full) and return its
        acknowledgement, to await when it matters: `await (await producer.send(e))`."""
        if not self._topic_checked:
            await self.check_topic()
        queued = await self._producer.send(self.topic, event.json, key=event.account_id.encode())
        delivered: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()

        def acknowledged(result: asyncio.Future[Any]) -> None:
            if result.cancelled():
                delivered.cancel()
            elif (error := result.exception()) is not None:
                delivered.set_exception(error)
            else:
                record = result.result()
                delivered.set_result(Delivery(event.event_id, record.topic, record.partition,
                                              record.offset))

        queued.add_done_callback(acknowledged)
        return delivered

    async def send_and_wait(self, event: Event) -> Delivery:
        """Send one event and wait for the broker's acknowledgement."""
        return await (await self.send(event))

    async def send_many(self, events: Iterable[Event]) -> list[Delivery]:
        """Send events in batches and wait for all of them; raises the first failure
        (the others are still sent)."""
        pending = [await self.send(event) for event in events]
        return list(await asyncio.gather(*pending))

    async def flush(self) -> None:
        """Wait until every queued event has been acknowledged or has failed."""
        await self._producer.flush()
