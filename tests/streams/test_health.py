"""The broker watch: when the broker last answered, and what it says when that
changes (no broker needed: the question it asks is a stand-in)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaConnectionError

from streams.runtime.errors import EngineError
from streams.runtime.health import BrokerWatch, ErrorNote
from streams.runtime.settings import HealthSettings


async def test_the_watch_tells_silence_from_answers_and_logs_each_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answering = True
    errors: list[BaseException] = []

    async def ask() -> None:
        if not answering:
            await asyncio.sleep(10)  # a hung broker: the question times out

    bounds = HealthSettings(broker_check_interval_s=0.05, broker_stale_s=0.3)
    watch = BrokerWatch(ask, "k:9092", bounds, errors.append)
    assert watch.silent_for() is None  # not connected yet
    with caplog.at_level(logging.INFO, "streams.runtime.health"):
        watch.start()
        try:
            await asyncio.sleep(0.3)
            assert (watch.silent_for() or 0) < 0.2
            answering = False
            await asyncio.sleep(0.8)
            assert (watch.silent_for() or 0) > 0.5
            answering = True
            await asyncio.sleep(0.3)
            assert (watch.silent_for() or 0) < 0.2
        finally:
            await watch.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("broker k:9092 has not answered for ")
    assert messages[1].startswith("broker k:9092 answers again after ")
    assert len(errors) == 1 and "no answer" in str(errors[0])


def test_an_error_note_keeps_messages_only_from_errors_that_hold_no_records() -> None:
    assert ErrorNote.of(KafkaConnectionError("Unable to bootstrap from k:9092")).message == (
        "Unable to bootstrap from k:9092")
    assert ErrorNote.of(EngineError("topics must have the same partitions")).type == "EngineError"
    leaky = ErrorNote.of(KeyError("acct-42 plan=enterprise"))
    assert leaky.type == "KeyError" and leaky.message == ""
