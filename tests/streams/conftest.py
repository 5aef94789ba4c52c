"""Fixtures for tests that need a real Kafka wire endpoint (embedded Tansu)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One memory-only broker per test session; tests isolate via fresh topics."""
    with EmbeddedBroker() as started:
        yield started


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A unique, Kafka-legal topic/group name prefix for the current test."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60]
    return f"{name}-{uuid.uuid4().hex[:8]}"
