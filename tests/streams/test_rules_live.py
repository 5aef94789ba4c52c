"""Live rules on a real broker: a new version applied mid-stream, bad records on the
rules topic, the precedence at start, SIGHUP, and `upsell rules apply` / `show`."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from schemas.events import decode_event
from schemas.rules_file import parse_rules
from schemas.rules_record import encode_rules_record
from streams.broker import free_port
from streams.cli.rules_cmd import apply_rules, rules_overview
from streams.cli.simulator import Simulator
from streams.runtime.live_rules import LiveRules, read_starting_rules
from streams.runtime.routing import home_partition
from streams.runtime.rules_feed import RulesFeed
from streams.runtime.settings import EngineSettings
from tests.factories import EXAMPLE_RULES, ROOT, example_book
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    assert_each_offer_once,
    read_topic,
    running_engine,
    send_lines,
    settings_for,
    topic_env,
    wait_until,
    worker_status,
)
from triggers import RuleBook
from triggers.table import AccountTable

V1_TEXT = EXAMPLE_RULES.read_text()
# The next version: a new trigger (it fires for accounts already past 60% of their
# seats at their next reading) and another version name.
V2_TEXT = V1_TEXT.replace('version: "2026-12-saas-2"', "version: 2027-01-saas").replace(
    "triggers:\n", "triggers:\n  - id: seats-60\n    kind: usage_threshold\n    metric: seats\n"
    "    levels: [60]\n    offer: {kind: upsell, recommend: next_tier}\n    priority: 30\n", 1)
BROKEN_TEXT = V1_TEXT.replace("    priority: 90", "    priorty: 90").replace(
    "metric: storage_gb\n    levels", "metric: storage\n    levels")


def _book(text: str) -> RuleBook:
    return RuleBook.compile(parse_rules(text))


def test_the_versions_differ_as_the_tests_assume() -> None:
    assert 'version: "2026-12-saas-2"' in V1_TEXT and V2_TEXT.count("seats-60") == 1
    assert _book(V1_TEXT).version != _book(V2_TEXT).version


def _lines(accounts: int = 60, days: int = 90, seed: int = 5) -> list[bytes]:
    return [orjson.dumps(e) for e in Simulator(example_book(), accounts, seed=seed).events(days)]


def predicted(parts: list[list[bytes]], books: list[RuleBook]) -> dict[str, bytes]:
    """offer_id -> offer JSON, as a replay that switches rules between the parts
    gives them (one clock per partition, as the engine keeps them)."""
    table = AccountTable(books[0], 4, home_partition)
    offers = {}
    for part, book in zip(parts, books, strict=True):
        if book is not table.book:
            table.use(book)
        for line in part:
            for result in table.apply(decode_event(line)):
                offers.update((o.offer_id, o.model_dump_json().encode()) for o in result.offers)
    return offers


async def _write_raw(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]],
                     ) -> None:
    """Records another tool might write to the rules topic."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()


def bad_records() -> list[tuple[bytes | None, bytes | None]]:
    broken_source = V2_TEXT.replace("levels: [60]", "levels: [60], priorty: 1")
    loaded_v2 = parse_rules(V2_TEXT)
    _, good = encode_rules_record(loaded_v2, datetime.now(UTC))
    envelope = orjson.loads(good)
    broken = {**envelope, "source": broken_source,
              "sha256": hashlib.sha256(broken_source.encode()).hexdigest()}
    newer = {**envelope, "v": 2}
    damaged = {**envelope, "sha256": "0" * 64}
    return [(b"x", b"not json"), (b"x", orjson.dumps(broken)), (b"x", orjson.dumps(newer)),
            (b"x", orjson.dumps(damaged)), (loaded_v2.version.encode(), None)]


async def test_a_new_version_applied_mid_stream_is_used_from_the_next_batch_and_a_bad_one_changes_nothing(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path
) -> None:
    """Offers before the switch carry the old version, after it the new one; nothing is
    lost or doubled (exactly what a replay that switches at the same point makes); bad
    records on the rules topic are refused and the running rules stay in force."""
    settings = settings_for(kafka, topic_prefix)
    bootstrap = kafka.bootstrap_servers
    lines = _lines()
    third = len(lines) // 3
    parts = [lines[:third], lines[third:2 * third], lines[2 * third:]]
    v1, v2 = _book(V1_TEXT), _book(V2_TEXT)
    before_switch = predicted(parts[:1], [v1])
    expected = predicted(parts, [v1, v2, v2])
    v2_file = tmp_path / "rules-v2.yaml"
    v2_file.write_text(V2_TEXT)
    options = settings.kafka.client_options()

    start = await read_starting_rules(EXAMPLE_RULES, bootstrap, settings.topics, options)
    assert start.source == f"file {EXAMPLE_RULES}" and start.book.version == v1.version
    async with running_engine(settings, start.book) as engine:
        live = LiveRules(engine, start, EXAMPLE_RULES)
        feed = RulesFeed(bootstrap, settings.topics.rules, options, start.follow_from,
                         live.on_record)
        await feed.start()
        following = asyncio.create_task(feed.run())
        try:
            await send_lines(bootstrap, settings.topics.events, parts[0])
            await wait_until(lambda: engine.metrics.events == len(parts[0]), 60, "part 1")

            applied = time.monotonic()
            await apply_rules(v2_file, bootstrap, settings.topics, options)
            await wait_until(lambda: live.status()["source"] == "rules topic offset 0", 10,
                             "the switch")
            print(f"\nswitched {time.monotonic() - applied:.2f} s after `apply`")
            assert engine.book.version == v2.version
            await send_lines(bootstrap, settings.topics.events, parts[1])

            await _write_raw(bootstrap, settings.topics.rules, bad_records())
            await wait_until(lambda: engine.metrics.rules_rejected == 5, 10, "5 refusals")
            assert engine.book.version == v2.version and engine.metrics.rules_switches == 1
            assert live.last_refused is not None and "tombstone" in live.last_refused
            await send_lines(bootstrap, settings.topics.events, parts[2])
            offers = await read_topic(bootstrap, settings.topics.offers, len(expected), settle=2)
        finally:
            await feed.stop()
            await following

    assert_each_offer_once(offers, expected)
    versions = [orjson.loads(r.value)["rules_version"] for r in offers if r.value is not None]
    made_before = [orjson.loads(r.value)["offer_id"] in before_switch
                   for r in offers if r.value is not None]
    assert versions.count(v1.version) == len(before_switch) > 0
    assert versions.count(v2.version) == len(expected) - len(before_switch) > 0
    assert all((version == v1.version) == before
               for version, before in zip(versions, made_before, strict=True))
    assert any(orjson.loads(value)["trigger_id"] == "seats-60" for value in expected.values())


async def test_apply_refuses_a_broken_file_with_every_error_and_publishes_nothing(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(kafka, topic_prefix)
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN_TEXT)
    done = _cli(["rules", "apply", str(broken)], _env(kafka, settings))
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    assert errors[-1] == "not applied: nothing was published"
    assert len(errors) == 3, errors  # the misspelled field and the unknown metric, at once
    assert any("priorty: unknown field" in e for e in errors)
    assert any("unknown metric 'storage'" in e for e in errors)
    overview = await rules_overview(kafka.bootstrap_servers, settings.topics,
                                    settings.kafka.client_options())
    assert overview["version"] is None and overview["refused_records"] == []


def _env(kafka: KafkaUnderTest, settings: EngineSettings, **extra: str) -> dict[str, str]:
    topics = settings.topics
    return {
        **os.environ,
        "UPSELL_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        **topic_env(topics), "UPSELL_GROUP_ID": settings.group_id,
        "UPSELL_SESSION_TIMEOUT_MS": "6000", "UPSELL_CLOCK": "event",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


class Worker:
    """A worker process with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--web-port", str(self.port)],
            env=env, cwd=ROOT, stdout=self._log_file, stderr=subprocess.STDOUT,
        )

    def status(self) -> dict[str, Any]:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited ({self.process.returncode}):\n"
                                 f"{self.text()[-3000:]}")
        return worker_status(self.port)

    def rules(self) -> dict[str, Any]:
        rules: dict[str, Any] = self.status().get("rules", {})
        return rules

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(30)
        finally:
            self._log_file.close()


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
        text: str = reply.read().decode()
        return text


async def test_a_worker_with_a_broken_file_runs_the_topic_version_and_sighup_reloads_its_file(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path
) -> None:
    """At start the topic's good version wins over a broken file (and the worker says
    so). SIGHUP reloads the file without ending the process: a changed good file is
    switched to, a broken one is refused and the running rules stay. `rules show`
    tells the worker's version from the topic's."""
    settings = settings_for(kafka, topic_prefix)
    v2_file, rules_file = tmp_path / "v2.yaml", tmp_path / "rules.yaml"
    v2_file.write_text(V2_TEXT)
    rules_file.write_text(BROKEN_TEXT)
    env = _env(kafka, settings, UPSELL_RULES=str(rules_file))
    applied = _cli(["rules", "apply", str(v2_file)], env)
    assert applied.returncode == 0, applied.stderr
    assert f"published rules {_book(V2_TEXT).version}" in applied.stdout

    worker = Worker(env, tmp_path / "worker.log")
    try:
        await wait_until(lambda: bool(worker.rules()), 60, "the worker's /status")
        assert worker.rules()["version"] == _book(V2_TEXT).version
        assert worker.rules()["source"] == "rules topic offset 0"
        await wait_until(lambda: "is broken" in worker.text(), 30, "the worker to say so")
        log = worker.text()
        assert f"the rules file {rules_file} is broken (problems: 2); running " \
            f"{_book(V2_TEXT).version} from the rules topic offset 0 instead" in log
        assert "unknown metric 'storage'" in log

        await wait_until(lambda: worker.status().get("ready") is True, 60, "its partitions")
        rules_file.write_text(V1_TEXT)  # a good file, another version
        worker.process.send_signal(signal.SIGHUP)
        v1 = _book(V1_TEXT).version
        await wait_until(lambda: worker.rules().get("version") == v1, 10, "the reload")
        assert worker.rules()["source"] == f"file {rules_file}"
        assert worker.process.poll() is None

        rules_file.write_text(BROKEN_TEXT)
        worker.process.send_signal(signal.SIGHUP)
        await wait_until(lambda: worker.rules().get("rejected") == 1, 10, "the refusal")
        assert worker.process.poll() is None
        assert worker.rules()["version"] == v1
        assert "unknown metric 'storage'" in (worker.rules()["last_rejected"] or "")
        metrics = _metrics(worker.port)
        assert f'upsell_rules_info{{version="{v1}"}} 1.0' in metrics
        assert "upsell_rules_rejected_total 1.0" in metrics
        assert "upsell_rules_switches_total 1.0" in metrics

        shown = _cli(["rules", "show"], env)
        assert shown.returncode == 0, shown.stderr
        assert f"rules topic {settings.topics.rules}: {_book(V2_TEXT).version} (offset 0" \
            in shown.stdout
        assert f"{v1} from file {rules_file}" in shown.stdout
        assert "differs from the topic" in shown.stdout
    finally:
        code = worker.stop()
    assert code == 0, worker.text()[-3000:]
    shown = _cli(["rules", "show", "--json"], env)
    assert orjson.loads(shown.stdout)["workers"] == []  # a clean stop takes it off

