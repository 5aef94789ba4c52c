"""The command line against a real broker: produce, tail, and the worker's
web endpoints."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from streams.broker import free_port
from streams.cli.pretty import describe_offer
from streams.cli.replay import ReplaySummary, replay
from tests.factories import EXAMPLE_RULES, ROOT, example_book
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    EXAMPLE_EVENTS,
    create_topic,
    read_topic,
    settings_for,
    topic_env,
    topics_for,
)

UPSELL = [sys.executable, "-m", "streams.cli"]
REPLAY = ReplaySummary()  # as the worker below decides them: 2 partitions, the event clock
REPLAYED = list(replay(EXAMPLE_EVENTS.read_bytes().splitlines(), example_book(), REPLAY,
                       partitions=2))


def test_produce_sends_valid_events_keyed_and_refuses_invalid_ones(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    topics = settings_for(kafka, topic_prefix).topics
    topic = topics.events
    env = {**os.environ, **topic_env(topics)}  # the engine's other topics: produce checks them
    done = subprocess.run(
        [*UPSELL, "produce", "--bootstrap-servers", kafka.bootstrap_servers, "--topic", topic,
         str(EXAMPLE_EVENTS)],
        capture_output=True, cwd=ROOT, env=env, timeout=60,
    )
    lines = EXAMPLE_EVENTS.read_bytes().splitlines()
    assert done.returncode == 1
    stderr = done.stderr.decode()
    for number, reason in REPLAY.bad_lines:
        assert f"line {number}: {reason}" in stderr
    bad = len(REPLAY.bad_lines)
    assert f"sent {len(lines) - bad} events to {topic}, rejected {bad} invalid lines" in stderr
    records = asyncio.run(read_topic(kafka.bootstrap_servers, topic, len(lines) - bad))
    assert len(records) == len(lines) - bad
    assert all(r.key == orjson.loads(r.value)["account_id"].encode() for r in records)  # type: ignore[arg-type]


def test_produce_refuses_an_events_topic_a_broker_made_with_another_count(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    """As a broker makes it when a client sends before any worker ran: the engine's
    other topics would get the configured count, and the worker would refuse them."""
    topics = settings_for(kafka, topic_prefix, partitions=2).topics
    names = {"events": topics.events, "offers": topics.offers}
    asyncio.run(create_topic(kafka.bootstrap_servers, names["events"], 3))
    env = {**os.environ, **topic_env(topics)}
    done = subprocess.run(
        [*UPSELL, "produce", "--bootstrap-servers", kafka.bootstrap_servers, str(EXAMPLE_EVENTS)],
        capture_output=True, cwd=ROOT, env=env, timeout=60,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert f"Error: nothing sent: the topics would not share one partition count ({names['events']}: 3, " \
           f"{names['offers']}: missing" in stderr
    assert "set UPSELL_TOPIC_PARTITIONS=3 to keep the existing count" in stderr
    assert "Traceback" not in stderr
    assert asyncio.run(read_topic(kafka.bootstrap_servers, names["events"], 0, settle=0.5)) == []


def test_produce_without_a_broker_says_how_to_get_one() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSELL_")}
    done = subprocess.run([*UPSELL, "produce", str(EXAMPLE_EVENTS)], capture_output=True,
                          cwd=ROOT, env=env, timeout=30)
    assert done.returncode == 2
    assert b"pass --bootstrap-servers or set UPSELL_KAFKA_BOOTSTRAP_SERVERS" in done.stderr


def test_worker_serves_health_and_metrics_on_localhost_and_tail_prints_offers(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    port = free_port()
    env = {
        **os.environ, **topic_env(topics_for(topic_prefix, 2)),
        "UPSELL_GROUP_ID": f"{topic_prefix}-group", "UPSELL_SESSION_TIMEOUT_MS": "6000",
    }
    worker = subprocess.Popen(
        [*UPSELL, "worker", "--bootstrap-servers", kafka.bootstrap_servers,
         "--rules", str(EXAMPLE_RULES), "--web-port", str(port), "--clock", "event"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    tail = subprocess.Popen(
        [*UPSELL, "tail", "--bootstrap-servers", kafka.bootstrap_servers, "--pretty",
         "--from-beginning", "--topic", f"{topic_prefix}-offers"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/health", 200, timeout=60)
        # The worker's topic settings: produce checks the engine's topics as configured.
        subprocess.run(
            [*UPSELL, "produce", "--bootstrap-servers", kafka.bootstrap_servers, str(EXAMPLE_EVENTS)],
            cwd=ROOT, env=env, capture_output=True, timeout=60,
        )
        sent = REPLAY.events  # produce refuses the bad lines
        deadline = time.monotonic() + 30
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

        def lag_shown() -> bool:  # once a checkpoint has committed
            return any(name == "upsell_consumer_lag" for name, _ in samples)

        def total(name: str, **labels: str) -> float:  # summed over the other labels
            return sum(value for (sample, sample_labels), value in samples.items()
                       if sample == name and labels.items() <= dict(sample_labels).items())

        while ((total("upsell_events_total") != sent or not lag_shown())
               and time.monotonic() < deadline):
            time.sleep(0.3)
            samples = _scrape(port)
        assert total("upsell_events_total") == sent
        for trigger, count in REPLAY.decisions.offers.items():
            assert total("upsell_offers_total", trigger=trigger) == count
        assert lag_shown()
        sockets = Path("/proc/net/tcp").read_text().splitlines()[1:]
        listening = {line.split()[1] for line in sockets if line.split()[3] == "0A"}
        assert f"0100007F:{port:04X}" in listening  # 127.0.0.1 only
        assert f"00000000:{port:04X}" not in listening
    finally:
        worker.terminate()
        tail.terminate()
        worker_exit = worker.wait(30)
        printed = tail.communicate(timeout=10)[0].decode().splitlines()
    assert worker_exit == 0
    assert sorted(printed) == sorted(describe_offer(offer) for offer in REPLAYED)
    # Readable reasons: a usage level, and a timed offer made with no event.
    assert any("API calls used this billing period" in line for line in printed)
    assert any("no activity in 21 days" in line for line in printed)


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The worker's /metrics, parsed: (name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
        text = reply.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _wait_for(url: str, status: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == status:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False
