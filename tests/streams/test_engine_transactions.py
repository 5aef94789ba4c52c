"""Exactly-once checkpoints need a broker with transactions (Apache Kafka); the
embedded broker has none. Point UPSELL_TEST_KAFKA_BOOTSTRAP at one to run these."""

from __future__ import annotations

from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    EXAMPLE_EVENTS,
    by_id,
    expected_offers,
    read_topic,
    running_engine,
    send_lines,
    settings_for,
)


async def test_transactional_checkpoints_publish_each_offer_exactly_once(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    kafka.require_transactions()
    settings = settings_for(kafka, topic_prefix, transactions=True)
    lines = EXAMPLE_EVENTS.read_bytes().splitlines()
    expected = expected_offers(lines)
    half = len(lines) // 2
    async with running_engine(settings):
        await send_lines(kafka.bootstrap_servers, settings.topics.events, lines[:half])
    async with running_engine(settings):
        await send_lines(kafka.bootstrap_servers, settings.topics.events, lines[half:])
        offers = await read_topic(kafka.bootstrap_servers, settings.topics.offers, len(expected),
                                  committed_only=True)
    got = by_id(offers)
    assert set(got) == set(expected)
    assert all(len(values) == 1 for values in got.values())
