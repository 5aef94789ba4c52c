"""Reaching the broker: which failures are retried, the backoff, and the bound."""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest
from aiokafka.errors import KafkaConnectionError, RequestTimedOutError, SaslAuthenticationFailed

from streams.runtime.connect import (
    Backoff,
    BrokerRefused,
    BrokerUnavailable,
    ask_broker,
    is_retriable,
    retrying,
)
from streams.runtime.errors import EngineError


def test_backoff_doubles_up_to_its_bound() -> None:
    backoff = Backoff(max_s=30)
    assert [backoff.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.parametrize(("error", "retried"), [
    (ConnectionRefusedError(), True),
    (TimeoutError(), True),
    (KafkaConnectionError("Unable to bootstrap"), True),
    (RequestTimedOutError(), True),
    (SaslAuthenticationFailed(), False),
    (ssl.SSLCertVerificationError(), False),
    (EngineError("topics must have the same number of partitions"), False),
    (ValueError("a bug"), False),
])
def test_only_an_absent_or_slow_broker_is_retried(error: BaseException, retried: bool) -> None:
    assert is_retriable(error) is retried


async def test_retrying_logs_each_failure_with_the_next_pause_and_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[BaseException] = []
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError(111, "Connect call failed")

    with caplog.at_level(logging.INFO, "streams.runtime.connect"):
        await retrying(attempt, bootstrap_servers="k:9092", backoff_max_s=0.01,
                       give_up_after_s=0, stopping=asyncio.Event(), on_failure=failures.append)
    assert calls == 3 and len(failures) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == ("broker k:9092 not reachable (ConnectionRefusedError: [Errno 111] "
                           "Connect call failed); try 1 failed, next in 0.0 s")
    assert messages[-1].startswith("broker k:9092 reached after 3 tries")


async def test_retrying_gives_up_after_the_bound_with_the_setting_named() -> None:
    async def attempt() -> None:
        raise KafkaConnectionError("Unable to bootstrap")

    with pytest.raises(BrokerUnavailable, match=r"UPSELL_KAFKA_START_WAIT_S=0\.2"):
        await retrying(attempt, bootstrap_servers="k:9092", backoff_max_s=0.05,
                       give_up_after_s=0.2)


async def test_retrying_stops_at_once_when_asked() -> None:
    stopping = asyncio.Event()

    async def attempt() -> None:
        asyncio.get_running_loop().call_later(0.05, stopping.set)
        raise KafkaConnectionError("Unable to bootstrap")

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(retrying(attempt, bootstrap_servers="k:9092", backoff_max_s=30,
                                        give_up_after_s=0, stopping=stopping), 5)


async def test_a_failure_that_cannot_be_retried_is_raised_at_once() -> None:
    async def attempt() -> None:
        raise BrokerRefused("the broker at k:9092 refused the connection")

    with pytest.raises(BrokerRefused):
        await retrying(attempt, bootstrap_servers="k:9092", backoff_max_s=30, give_up_after_s=0)


async def test_ask_broker_raises_the_real_reason_for_a_closed_port() -> None:
    with pytest.raises(ConnectionRefusedError):
        await ask_broker("127.0.0.1:1", {})
