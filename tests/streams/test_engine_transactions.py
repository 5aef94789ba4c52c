"""Exactly-once checkpoints need a broker with transactions (Apache Kafka); the
embedded broker has none. Point UPSELL_TEST_KAFKA_BOOTSTRAP at one to run these."""

from __future__ import annotations

import os
import uuid

import pytest

from streams.runtime.settings import EngineSettings, KafkaSettings, TopicSettings
from tests.streams.kafka_helpers import (
    EXAMPLE_EVENTS,
    by_id,
    expected_offers,
    read_topic,
    running_engine,
    send_lines,
)

BOOTSTRAP = os.environ.get("UPSELL_TEST_KAFKA_BOOTSTRAP")
pytestmark = pytest.mark.skipif(
    not BOOTSTRAP, reason="needs a broker with transactions: set UPSELL_TEST_KAFKA_BOOTSTRAP"
)


async def test_transactional_checkpoints_publish_each_offer_exactly_once() -> None:
    assert BOOTSTRAP is not None
    prefix = f"txn-{uuid.uuid4().hex[:8]}"
    settings = EngineSettings(
        kafka=KafkaSettings(bootstrap_servers=BOOTSTRAP),
        topics=TopicSettings(events=f"{prefix}-events", offers=f"{prefix}-offers",
                             dlq=f"{prefix}-dlq", changelog=f"{prefix}-changelog", partitions=4),
        group_id=f"{prefix}-group", transactions=True,
        session_timeout_ms=6000, checkpoint_interval_ms=100,
    )
    lines = EXAMPLE_EVENTS.read_bytes().splitlines()
    expected = expected_offers(lines)
    half = len(lines) // 2
    async with running_engine(settings):
        await send_lines(BOOTSTRAP, settings.topics.events, lines[:half])
    async with running_engine(settings):
        await send_lines(BOOTSTRAP, settings.topics.events, lines[half:])
        offers = await read_topic(BOOTSTRAP, settings.topics.offers, len(expected),
                                  committed_only=True)
    got = by_id(offers)
    assert set(got) == set(expected)
    assert all(len(values) == 1 for values in got.values())
