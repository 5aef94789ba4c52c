"""Fixtures for tests that need a real Kafka wire endpoint.

`kafka` is the embedded broker by default, or any Kafka given by
UPSELL_TEST_KAFKA_BOOTSTRAP (e.g. ../shared/kafka/ runs Apache Kafka 4.0);
tests isolate themselves with fresh topics and groups (`topic_prefix`).
`broker` is always the embedded one, for tests of the launcher itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.broker import EmbeddedBroker

EXTERNAL_BOOTSTRAP = os.environ.get("UPSELL_TEST_KAFKA_BOOTSTRAP")


@dataclass(frozen=True)
class KafkaUnderTest:
    """The broker the live tests run on, and what it can do."""

    bootstrap_servers: str
    embedded: EmbeddedBroker | None  # None: an external Kafka
    transactions: bool

    def require_transactions(self) -> None:
        if not self.transactions:
            pytest.skip("needs a broker with transactions (set UPSELL_TEST_KAFKA_BOOTSTRAP "
                        "to an Apache Kafka); the embedded broker has none")

    def require_no_transactions(self) -> None:
        if self.transactions:
            pytest.skip("needs a broker without transactions (the embedded one)")

    def require_embedded(self, why: str) -> EmbeddedBroker:
        if self.embedded is None:
            pytest.skip(f"needs the embedded broker: {why}")
        return self.embedded


async def _has_transactions(bootstrap: str) -> bool:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                transactional_id=f"upsell-test-probe-{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.wait_for(producer.start(), 20)
    except (TimeoutError, KafkaError):
        return False
    finally:
        await producer.stop()
    return True


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One memory-only embedded broker per test session."""
    with EmbeddedBroker() as started:
        yield started


@pytest.fixture(scope="session")
def kafka(request: pytest.FixtureRequest) -> KafkaUnderTest:
    if EXTERNAL_BOOTSTRAP:
        return KafkaUnderTest(EXTERNAL_BOOTSTRAP, None,
                              asyncio.run(_has_transactions(EXTERNAL_BOOTSTRAP)))
    embedded: EmbeddedBroker = request.getfixturevalue("broker")
    return KafkaUnderTest(embedded.bootstrap_servers, embedded, transactions=False)


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A unique, Kafka-legal topic/group name prefix for the current test."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60]
    return f"{name}-{uuid.uuid4().hex[:8]}"
