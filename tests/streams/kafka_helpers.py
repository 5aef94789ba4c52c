"""Helpers for integration tests on a real broker (the embedded one, or any
Kafka given by UPSELL_TEST_KAFKA_BOOTSTRAP): run an engine, send lines, read a
topic back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams.broker import free_port
from streams.cli.producer import EventProducer
from streams.cli.replay import replay
from streams.runtime.loop import Engine
from streams.runtime.settings import EngineSettings, KafkaSettings, TopicSettings
from tests.factories import EXAMPLE_RULES, ROOT, example_book
from tests.streams.conftest import KafkaUnderTest
from triggers import RuleBook

EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"


def topics_for(prefix: str, partitions: int) -> TopicSettings:
    """Fresh topics, all of them named after the test."""
    return TopicSettings(
        events=f"{prefix}-events", offers=f"{prefix}-offers", outcomes=f"{prefix}-outcomes",
        dlq=f"{prefix}-dlq", changelog=f"{prefix}-changelog", rules=f"{prefix}-rules",
        rules_status=f"{prefix}-rules-status", partitions=partitions,
    )


def settings_for(kafka: KafkaUnderTest, prefix: str, partitions: int = 4,
                 **overrides: object) -> EngineSettings:
    """Fresh topics and group per test; a short session timeout, because the
    embedded broker holds a group join for about half of it. The `event` clock,
    so that what the engine makes is what replay predicts (`expected_offers`
    with the same partition count)."""
    overrides = {"clock": "event", **overrides}
    return EngineSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka.bootstrap_servers),
        topics=topics_for(prefix, partitions),
        group_id=f"{prefix}-group",
        session_timeout_ms=6000,
        checkpoint_interval_ms=100,
        **overrides,  # type: ignore[arg-type]
    )


def topic_env(topics: TopicSettings) -> dict[str, str]:
    """The UPSELL_TOPIC_* variables of a worker process with these topics: every
    name (a topic left out would be shared with other tests) and the layout."""
    return {f"UPSELL_TOPIC_{name.upper()}": str(value)
            for name, value in topics.model_dump().items()}


@contextlib.asynccontextmanager
async def running_engine(settings: EngineSettings, book: RuleBook | None = None,
                         ) -> AsyncIterator[Engine]:
    """An engine consuming in the background until the block ends (a clean stop).
    What `run()` raised is raised here: a crashed engine fails the test."""
    assert settings.kafka.bootstrap_servers is not None
    engine = Engine(settings, book or example_book(), settings.kafka.bootstrap_servers)
    await engine.start()
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        try:
            await asyncio.wait_for(engine.stop(), 60)
        finally:
            await asyncio.wait_for(task, 60)


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """A topic of that layout, as an admin (or a broker creating it on first use) would make it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


def account_key(line: bytes) -> bytes | None:
    try:
        return str(orjson.loads(line)["account_id"]).encode()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


async def send_lines(bootstrap: str, topic: str, lines: Iterable[bytes],
                     partition_of: dict[bytes, int] | None = None) -> int:
    """Send lines as they are (bad ones too), keyed by account id."""
    sent = 0
    async with EventProducer(bootstrap, topic) as producer:
        for line in lines:
            key = account_key(line)
            partition = partition_of.get(key) if partition_of and key is not None else None
            await producer.send_raw(line, key, partition)
            sent += 1
        await producer.flush()
    return sent


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60,
                     settle: float = 1.0, committed_only: bool = False,
                     ) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic: waits for `expected` records, then `settle` seconds
    more so that unexpected extra records (duplicates) are seen too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        partitions = await partitions_of(bootstrap, topic, consumer, timeout)
        deadline = time.monotonic() + timeout
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        settle_until = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
            if len(records) >= expected:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
    finally:
        await consumer.stop()
    return records


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def worker_env(settings: EngineSettings, **more: str) -> dict[str, str]:
    """The environment of an `upsell worker` process on these topics and group,
    with the example rules and the event clock (as `settings_for` makes them),
    and no other UPSELL_* variable from the test's own environment."""
    assert settings.kafka.bootstrap_servers is not None
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("UPSELL_")},
        "UPSELL_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        **topic_env(settings.topics),
        "UPSELL_GROUP_ID": settings.group_id,
        "UPSELL_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "UPSELL_RULES": str(EXAMPLE_RULES), "UPSELL_CLOCK": settings.clock,
        **more,
    }


def worker_get(port: int, path: str) -> tuple[int | None, dict[str, Any]]:
    """(status, JSON body) of a worker's endpoint; (None, {}) while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:  # 503: the body says which check fails
        with error:
            return error.code, json.loads(error.read())
    except (OSError, ValueError):
        return None, {}


def worker_status(port: int) -> dict[str, Any]:
    """A worker process's /status, or {} while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1) as reply:
            result: dict[str, Any] = json.loads(reply.read())
            return result
    except (OSError, ValueError):
        return {}


async def partitions_of(bootstrap: str, topic: str, consumer: AIOKafkaConsumer,
                        timeout: float) -> set[int]:
    """The topic's partitions, once it exists. Not `consumer.partitions_for_topic()`:
    on Apache Kafka it is None until the topic has been asked for by name."""
    deadline = time.monotonic() + timeout
    while topic not in await consumer.topics():
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} does not exist")
        await asyncio.sleep(0.2)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return set(await producer.partitions_for(topic))
    finally:
        await producer.stop()


def expected_offers(lines: list[bytes], partitions: int = 4) -> dict[str, bytes]:
    """offer_id -> offer JSON, as the offline replay makes them (one clock per
    partition, as the engine keeps them: give the topics' partition count)."""
    return {offer.offer_id: offer.model_dump_json().encode()
            for offer in replay(lines, example_book(), partitions=partitions)}


def assert_each_offer_once(records: list[ConsumerRecord[bytes, bytes]],
                           expected: dict[str, bytes]) -> None:
    """The offers the replay predicts, each exactly once, nothing else."""
    got = by_id(records)
    assert set(got) == set(expected), (
        f"missing {len(set(expected) - set(got))} offers, "
        f"{len(set(got) - set(expected))} unpredicted, of {len(expected)}")
    assert all(len(values) == 1 for values in got.values()), "an offer was sent twice"
    assert all(values[0] == expected[offer_id] for offer_id, values in got.items())


def by_id(records: list[ConsumerRecord[bytes, bytes]]) -> dict[str, list[bytes]]:
    result: dict[str, list[bytes]] = {}
    for record in records:
        assert record.value is not None
        result.setdefault(orjson.loads(record.value)["offer_id"], []).append(record.value)
    return result


@dataclass(frozen=True)
class WorkerProcess:
    """An `upsell worker` process and the names it was given."""

    process: subprocess.Popen[bytes]
    port: int  # of its web server, on 127.0.0.1
    events_topic: str

    def families(self) -> list[Metric]:
        """Its /metrics, parsed by prometheus-client's parser."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as reply:
            return list(text_string_to_metric_families(reply.read().decode()))

    def scrape(self) -> list[Sample]:
        """Every sample of its /metrics."""
        return [sample for family in self.families() for sample in family.samples]


@contextlib.contextmanager
def worker_process(bootstrap: str, prefix: str, partitions: int = 2,
                   ready_timeout: float = 60) -> Iterator[WorkerProcess]:
    """`upsell worker` with the example rules and the event clock on fresh topics,
    until the block ends (SIGTERM: a clean stop, which the block's end checks).
    Yields once the worker is ready."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("UPSELL_")},
        **topic_env(topics_for(prefix, partitions)), "UPSELL_GROUP_ID": f"{prefix}-group",
        "UPSELL_SESSION_TIMEOUT_MS": "6000",
    }
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--bootstrap-servers", bootstrap,
             "--rules", str(EXAMPLE_RULES), "--web-port", str(port), "--clock", "event"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(process, port, f"{prefix}-events")
        try:
            deadline = time.monotonic() + ready_timeout
            while not _ready(worker):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"worker not ready: {_tail(log)}")
                time.sleep(0.3)
            yield worker
        finally:
            stop_process(process)
        assert process.returncode == 0, _tail(log)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, and SIGKILL after `timeout` seconds; waits for the exit."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _ready(worker: WorkerProcess) -> bool:
    try:
        return any(s.name == "upsell_ready" and s.value == 1 for s in worker.scrape())
    except OSError:
        return False


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]
