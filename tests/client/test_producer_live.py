"""The client on a real broker: what it sends, the engine consumes on the account's
own partition and decides as replay does; a missing or mis-sized events topic
is refused before anything is sent, and is not created."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from streams.runtime.routing import home_partition
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    assert_each_offer_once,
    create_topic,
    expected_offers,
    read_topic,
    running_engine,
    settings_for,
    wait_until,
)
from upsell_client import Event, TopicNotReady, UpsellProducer, events, respond

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACCOUNTS = [f"acct-{n:02d}" for n in range(12)]


def product_events() -> list[Event]:
    """A dozen basic accounts that fill their seats, and one of every other type."""
    built: list[Event] = []
    for number, account in enumerate(ACCOUNTS):
        at = T0 + timedelta(minutes=number)
        built += [
            events.account(account, industry="software", employees=8, contract_term="monthly",
                           occurred_at=at),
            events.subscription(account, "basic", started_at=T0 - timedelta(days=400),
                                renews_at=T0 + timedelta(days=200), occurred_at=at),
            events.usage_gauge(account, "seats", 6, occurred_at=at + timedelta(hours=1)),
            events.usage_counter(account, "api_calls", 120, occurred_at=at + timedelta(hours=2)),
            events.usage_gauge(account, "seats", 10, occurred_at=at + timedelta(hours=3)),
        ]
    first = ACCOUNTS[0]
    later = T0 + timedelta(days=1)
    built += [
        events.feature_gate(first, "sso", occurred_at=later),
        events.milestone(first, "project_completed", occurred_at=later),
        events.score(first, "nps", 9, occurred_at=later),
        events.score(first, "csat", 4.5, occurred_at=later),
        events.score(first, "health_score", 80, occurred_at=later),
        events.ticket(first, "T-1", "opened", severity="low", occurred_at=later),
        events.ticket(first, "T-1", "resolved", occurred_at=later + timedelta(hours=1)),
        events.churn_signal(ACCOUNTS[1], "downgrade_intent", occurred_at=later),
    ]
    return built


async def test_the_engine_consumes_what_the_client_sends_and_hears_its_responses(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix, partitions=4)
    bootstrap, topics = kafka.bootstrap_servers, settings.topics
    sent = product_events()
    expected = expected_offers([event.json for event in sent], partitions=4)
    assert expected, "the events should make offers"
    async with running_engine(settings) as engine:  # it creates the topics
        async with UpsellProducer(bootstrap, topic=topics.events, expected_partitions=4) as producer:
            assert await producer.check_topic() == 4
            deliveries = await producer.send_many(sent)
        assert [d.event_id for d in deliveries] == [event.event_id for event in sent]
        assert all(d.topic == topics.events and d.offset >= 0 for d in deliveries)
        # Kafka's default partitioner: each account on the partition the engine keeps it on.
        assert all(d.partition == home_partition(event.account_id, 4)
                   for d, event in zip(deliveries, sent, strict=True))

        offers = await read_topic(bootstrap, topics.offers, len(expected))
        assert_each_offer_once(offers, expected)

        # In-app messaging reports back; a repeated report has the same event id.
        async with UpsellProducer(bootstrap, topic=topics.events) as producer:
            for record in offers:
                assert record.value is not None
                declined = T0 + timedelta(days=2)  # a retry carries the moment of the first try
                first = await producer.send_and_wait(respond(record.value, "declined", occurred_at=declined))
                again = await producer.send_and_wait(
                    respond(orjson.loads(record.value), "declined", occurred_at=declined))
                assert first.event_id == again.event_id and again.offset > first.offset
        total = len(sent) + 2 * len(offers)
        await wait_until(lambda: engine.metrics.events >= total, 60, "the engine to read every event")
        await wait_until(lambda: engine.metrics.decisions.duplicates >= len(offers), 30,
                         "the repeated responses to be dropped as duplicates")
        assert engine.metrics.invalid == 0  # nothing the client sent went to the dead-letter topic
        assert engine.metrics.forwarded == 0  # nothing arrived on another account's partition
        assert engine.metrics.decisions.duplicates == len(offers)


async def topic_names(bootstrap: str) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await consumer.stop()


async def test_a_missing_events_topic_is_refused_and_not_created(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}-events"
    async with UpsellProducer(kafka.bootstrap_servers, topic=topic) as producer:
        with pytest.raises(TopicNotReady, match=f"topic '{topic}' does not exist: nothing sent"):
            await producer.send(events.milestone("acme", "x"))
        with pytest.raises(TopicNotReady):  # asked again at the next send, not taken for granted
            await producer.send_and_wait(events.milestone("acme", "x"))
    assert topic not in await topic_names(kafka.bootstrap_servers)


async def test_a_topic_with_another_partition_count_than_expected_is_refused(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}-events"
    await create_topic(kafka.bootstrap_servers, topic, 3)
    await wait_until_topic(kafka.bootstrap_servers, topic)
    async with UpsellProducer(kafka.bootstrap_servers, topic=topic, expected_partitions=8) as producer:
        with pytest.raises(TopicNotReady, match=f"topic '{topic}' has 3 partitions, not the 8 expected"):
            await producer.send(events.milestone("acme", "x"))
    async with UpsellProducer(kafka.bootstrap_servers, topic=topic, expected_partitions=3) as producer:
        delivery = await producer.send_and_wait(events.milestone("acme", "x"))
    assert delivery.partition == home_partition("acme", 3)


async def wait_until_topic(bootstrap: str, topic: str) -> None:
    """Until the brokers' metadata lists a topic just created (Apache Kafka: a moment)."""
    for _ in range(50):
        if topic in await topic_names(bootstrap):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"topic {topic} was not created")


def test_another_partitioner_is_refused() -> None:
    with pytest.raises(ValueError, match="the partitioner is Kafka's default"):
        UpsellProducer("127.0.0.1:9", partitioner=object())
