"""A worker's start and its probes, against real brokers: the embedded broker
only when asked, a broker that comes up late, a rebalance (/livez stays up,
/readyz goes red) and a hung broker (/readyz red within its bound; the worker
rides out 45 s, longer than aiokafka's 40 s request timeout, and loses
nothing)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.cli.simulator import Simulator
from streams.runtime.loop import CLOSE_TIMEOUT_S, FINAL_CHECKPOINT_TIMEOUT_S
from streams.runtime.settings import HealthSettings
from tests.factories import EXAMPLE_RULES, ROOT, event_json, example_book
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    by_id,
    expected_offers,
    read_topic,
    send_lines,
    settings_for,
    stop_process,
    worker_env,
    worker_get,
)

UPSELL = [sys.executable, "-m", "streams.cli"]
BOUNDS = HealthSettings()
#: Slack for the readiness bound: the 0.2 s polls, and a loaded 2-core machine.
SLACK_S = 3.0


@contextmanager
def upsell_worker(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`upsell worker ARGS`, its output in `log`; stopped (SIGTERM) when the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen([*UPSELL, "worker", *args], env=env, cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop_process(process)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n"
                                 f"{log.read_text()[-3000:]}")
        time.sleep(0.2)


def ready(port: int) -> bool:
    return worker_get(port, "/readyz")[0] == 200


def clean_env(**more: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("UPSELL_")}, **more}


def test_the_embedded_broker_runs_only_when_asked_and_stops_with_the_worker(
    tmp_path: Path,
) -> None:
    port, log = free_port(), tmp_path / "worker.log"
    with upsell_worker(["--embedded-broker", "--rules", str(EXAMPLE_RULES), "--web-port",
                         str(port), "--partitions", "2", "--log-format", "json"],
                        clean_env(UPSELL_SESSION_TIMEOUT_MS="6000"), log) as worker:
        wait_for(lambda: ready(port), 90, "the worker on its embedded broker", log)
        bootstrap = worker_get(port, "/status")[1]["broker"]["bootstrap_servers"]
        worker.terminate()
        assert worker.wait(30) == 0
    messages = [json.loads(line)["message"] for line in log.read_text().splitlines()]
    assert any(m.startswith(f"started an embedded broker at {bootstrap} (memory only")
               for m in messages)
    host, _, broker_port = bootstrap.rpartition(":")
    assert host == "127.0.0.1"
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect((host, int(broker_port)))  # stopped with the worker


def test_a_worker_waits_for_a_late_broker_and_stops_in_time_once_it_is_gone(
    tmp_path: Path, topic_prefix: str,
) -> None:
    """Started before its broker: it retries (it needs the rules topic before it
    starts its web server), then works. Stopped while its broker is gone: it
    gives up the final checkpoint and leaving the group in bounded time, well
    inside a supervisor's 30 s grace period."""
    kafka_port, port, log = free_port(), free_port(), tmp_path / "worker.log"
    settings = settings_for(KafkaUnderTest(f"127.0.0.1:{kafka_port}", None, False), topic_prefix,
                            partitions=2)
    broker = EmbeddedBroker(port=kafka_port)
    try:
        with upsell_worker(["--web-port", str(port)], worker_env(settings), log) as worker:
            wait_for(lambda: "try 3 failed" in log.read_text(), 60, "three tries", log)
            assert worker.poll() is None
            text = log.read_text()
            assert f"broker 127.0.0.1:{kafka_port} not reachable (ConnectionRefusedError: " in text
            assert "try 1 failed, next in 0.5 s" in text and "try 2 failed, next in 1.0 s" in text
            broker.start()
            wait_for(lambda: ready(port), 90, "the worker, once the broker is up", log)
            asyncio.run(send_lines(broker.bootstrap_servers, settings.topics.events,
                                   [event_json("subscription", "acme", 0, "s1", plan="basic")]))
            wait_for(lambda: worker_get(port, "/status")[1].get("events") == 1, 30,
                     "the first event", log)
            broker.stop()
            stopping = time.monotonic()
            worker.terminate()
            worker.wait(60)
            assert time.monotonic() - stopping < FINAL_CHECKPOINT_TIMEOUT_S + CLOSE_TIMEOUT_S + 5
    finally:
        broker.stop()
    assert f"broker 127.0.0.1:{kafka_port} reached after " in log.read_text()


def test_a_rebalance_turns_readyz_red_and_leaves_livez_alone(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path,
) -> None:
    settings = settings_for(kafka, topic_prefix, partitions=2)
    first, second = free_port(), free_port()
    live: list[int | None] = []
    readiness: list[tuple[int | None, dict[str, Any]]] = []
    with upsell_worker(["--web-port", str(first)], worker_env(settings),
                        tmp_path / "first.log"):
        wait_for(lambda: ready(first), 90, "the first worker", tmp_path / "first.log")
        with upsell_worker(["--web-port", str(second)], worker_env(settings),
                            tmp_path / "second.log"):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                live.append(worker_get(first, "/livez")[0])
                readiness.append(worker_get(first, "/readyz"))
                went_red = any(status == 503 for status, _ in readiness)
                if went_red and readiness[-1][0] == 200 and ready(second):
                    break
                time.sleep(0.1)
    assert any(status == 503 for status, _ in readiness), "the rebalance was not seen"
    assert readiness[-1][0] == 200, "not ready again after the rebalance"
    red = [body for status, body in readiness if status == 503]
    assert all(not body["checks"]["partitions"]["ok"] for body in red)
    assert all(body["checks"]["engine"]["ok"] for body in red)
    assert set(live) == {200}, live


async def test_a_hung_broker_turns_readyz_red_within_its_bound_and_the_worker_rides_it_out(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    broker = kafka.require_embedded("it freezes the broker (SIGSTOP)")
    settings = settings_for(kafka, topic_prefix, partitions=2)
    lines = [orjson.dumps(e) for e in Simulator(example_book(), 600, seed=5).events(days=60)]
    expected = expected_offers(lines, partitions=2)
    port, log = free_port(), tmp_path / "worker.log"
    polls: list[tuple[float, int | None, int | None, dict[str, Any]]] = []
    with upsell_worker(["--web-port", str(port)], worker_env(settings), log) as worker:
        wait_for(lambda: ready(port), 90, "the worker", log)
        await send_lines(kafka.bootstrap_servers, settings.topics.events, lines)
        wait_for(lambda: worker_get(port, "/status")[1].get("events", 0) > 0, 60,
                 "the first events", log)
        broker.pause()
        try:
            paused_at = time.monotonic()
            at_pause = worker_get(port, "/status")[1]["events"]
            while time.monotonic() - paused_at < 45:
                readyz, body = worker_get(port, "/readyz")
                polls.append((time.monotonic() - paused_at, worker_get(port, "/livez")[0],
                              readyz, body))
                time.sleep(0.2)
        finally:
            broker.resume()
        wait_for(lambda: ready(port), 90, "readiness after the outage", log)
        wait_for(lambda: worker_get(port, "/status")[1].get("events") == len(lines), 120,
                 "every event", log)
        status = worker_get(port, "/status")[1]
        offers = await read_topic(kafka.bootstrap_servers, settings.topics.offers, len(expected),
                                  timeout=120, settle=2)
        assert worker.poll() is None, "the outage stopped the worker"
    assert at_pause < len(lines), "the pause must come while events are being processed"
    red = [(t, body) for t, _, readyz, body in polls if readyz == 503]
    assert red, "/readyz never went red"
    first_red, body = red[0]
    record_property("readyz_red_after_s", round(first_red, 1))
    assert first_red <= BOUNDS.broker_stale_s + SLACK_S
    assert not body["checks"]["broker"]["ok"]
    assert "no answer for" in body["checks"]["broker"]["detail"]
    assert {live for _, live, _, _ in polls} == {200}, "a broker outage must not fail /livez"
    assert status["last_error"]["type"] == "TimeoutError"
    text = log.read_text()
    assert f"broker {kafka.bootstrap_servers} has not answered for " in text
    assert f"broker {kafka.bootstrap_servers} answers again after " in text
    got = by_id(offers)
    assert set(got) == set(expected), "an offer was lost"
    record_property("duplicate_offer_deliveries", sum(len(v) - 1 for v in got.values()))
