"""The worker's logs, from a real `upsell worker` process: one JSON object per
line, a start line with what runs where, and no password at any level.

The worker runs at DEBUG with SASL PLAIN against a listener that takes the
password and refuses it (tests/streams/fake_sasl_broker.py): aiokafka's
connection logger would print the SaslAuthenticate request, password
included, at DEBUG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from streams import __version__
from streams.broker import free_port
from tests.factories import EXAMPLE_RULES, ROOT, example_book
from tests.streams.fake_sasl_broker import sasl_refusing_broker

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


def test_the_password_reaches_the_broker_but_no_log_line_even_at_debug(refused: Run) -> None:
    assert any(PASSWORD.encode() in payload for payload in refused.payloads), "never sent"
    assert any(r["level"] == "debug" for r in refused.records), "debug records were not on"
    assert any(r["logger"] == "aiokafka.conn" for r in refused.records)  # it did log the login
    assert PASSWORD not in refused.output


def test_every_line_is_one_json_object(refused: Run) -> None:
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert lines and len(refused.records) == len(lines)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in refused.records)


def test_the_start_line_says_version_broker_topics_rules_and_web(refused: Run) -> None:
    start = [r for r in refused.records if r["message"].startswith("upsell ")
             and " worker starting: " in r["message"]]
    assert len(start) == 1
    line = start[0]
    assert line["version"] == __version__ and __version__ in line["message"]
    assert line["broker"] == refused.bootstrap and refused.bootstrap in line["message"]
    assert line["topics"] == ["usage-events", "upsell-offers", "usage-events-dlq",
                              "upsell-state-changelog"]
    assert line["rules_version"] == example_book().version
    assert line["web"] == f"http://127.0.0.1:{refused.web_port}"


def test_refused_credentials_stop_the_worker_with_a_clear_line_and_no_traceback(
    refused: Run,
) -> None:
    assert refused.returncode == 1
    errors = [r["message"] for r in refused.records if r["level"] == "error"]
    assert any("refused the connection (SaslAuthenticationFailed" in m
               and "UPSELL_KAFKA_SASL_*" in m for m in errors), errors
    assert "Traceback" not in refused.output
    assert not any("exception" in r for r in refused.records)
