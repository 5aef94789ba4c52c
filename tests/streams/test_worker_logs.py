"""The worker's logs, from real `upsell worker` processes: one JSON object per
line, a start line with what runs where, and no password at any level.

One worker runs at DEBUG with SASL PLAIN against a listener that takes the
password and refuses it (tests/streams/fake_sasl_broker.py): aiokafka's
connection logger would print the SaslAuthenticate request, password
included, at DEBUG. Another runs on the test broker until it is ready."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest

from streams import __version__
from streams.broker import free_port
from tests.factories import EXAMPLE_RULES, ROOT, example_book
from tests.streams.conftest import KafkaUnderTest
from tests.streams.fake_sasl_broker import sasl_refusing_broker
from tests.streams.kafka_helpers import settings_for, worker_env, worker_get

UPSELL = [sys.executable, "-m", "streams.cli"]
PASSWORD = "hunter2-not-in-any-log-7f3a"


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str  # stdout and stderr
    records: list[dict[str, Any]]
    payloads: list[bytes]  # what the listener received in SaslAuthenticate
    bootstrap: str
    web_port: int


@pytest.fixture(scope="module")
def refused() -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSELL_")}
    env.update({
        "UPSELL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "UPSELL_KAFKA_SASL_MECHANISM": "PLAIN",
        "UPSELL_KAFKA_SASL_USERNAME": "upsell",
        "UPSELL_KAFKA_SASL_PASSWORD": PASSWORD,
    })
    port = free_port()
    with sasl_refusing_broker() as (bootstrap, payloads):
        done = subprocess.run(
            [*UPSELL, "worker", "--bootstrap-servers", bootstrap, "--rules", str(EXAMPLE_RULES),
             "--web-port", str(port), "--loglevel", "debug", "--log-format", "json"],
            capture_output=True, cwd=ROOT, env=env, timeout=120,
        )
        received = list(payloads)
    output = done.stdout.decode() + done.stderr.decode()
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    return Run(done.returncode, output, records, received, bootstrap, port)


@dataclass(frozen=True)
class Started:
    output: str
    bootstrap: str
    web_port: int
    topics: list[str]


@pytest.fixture(scope="module")
def started(kafka: KafkaUnderTest, request: pytest.FixtureRequest) -> Started:
    """A worker with JSON logs, stopped once ready."""
    settings = settings_for(kafka, f"logs-{os.getpid()}-{time.monotonic_ns()}", partitions=2)
    port = free_port()
    worker = subprocess.Popen([*UPSELL, "worker", "--web-port", str(port), "--log-format", "json"],
                              env=worker_env(settings), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while worker_get(port, "/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=60)[0].decode()
    return Started(output, kafka.bootstrap_servers, port,
                   list(settings.topics.names().values()))


def test_the_password_reaches_the_broker_but_no_log_line_even_at_debug(refused: Run) -> None:
    assert any(PASSWORD.encode() in payload for payload in refused.payloads), "never sent"
    assert any(r["level"] == "debug" for r in refused.records), "debug records were not on"
    assert any(r["logger"] == "aiokafka.conn" for r in refused.records)  # it did log the login
    assert PASSWORD not in refused.output


def test_every_line_is_one_json_object(refused: Run, started: Started) -> None:
    for output in (refused.output, started.output):
        lines = [line for line in output.splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]
        assert lines and all(isinstance(r, dict) for r in records)
        assert all({"time", "level", "logger", "message"} <= set(r) for r in records)


def test_the_start_line_says_version_broker_topics_rules_and_web(started: Started) -> None:
    records = [json.loads(line) for line in started.output.splitlines() if line.strip()]
    start = [r for r in records if " worker starting: " in r["message"]]
    assert len(start) == 1, [r["message"] for r in records]
    line = start[0]
    assert line["message"].startswith(f"upsell {__version__} worker starting: ")
    assert line["version"] == __version__
    assert line["broker"] == started.bootstrap and started.bootstrap in line["message"]
    assert line["topics"] == started.topics and started.topics[0] in line["message"]
    assert line["rules_version"] == example_book().version
    assert f"rules version {example_book().version}" in line["message"]
    assert line["web"] == f"http://127.0.0.1:{started.web_port}"
    assert line["web"] in line["message"]


def test_refused_credentials_stop_the_worker_with_a_clear_line_and_no_traceback(
    refused: Run,
) -> None:
    assert refused.returncode == 1
    errors = [r["message"] for r in refused.records if r["level"] == "error"]
    assert errors == [next(m for m in errors if m.startswith("stopping: the broker at "))]
    assert "refused the connection (SaslAuthenticationFailed" in errors[0]
    assert "UPSELL_KAFKA_SASL_*" in errors[0]
    assert "Traceback" not in refused.output
    assert not any("exception" in r for r in refused.records)
