"""The benchmark's smoke test runs on its own embedded broker (memory only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded broker per test session; each run of the phases uses fresh topics."""
    with EmbeddedBroker() as started:
        yield started
