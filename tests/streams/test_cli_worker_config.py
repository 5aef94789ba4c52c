"""`upsell worker` refuses what it cannot run, before it connects to anything
(no broker configured, bad settings, a port in use), or once the broker says
there is nothing to run (a bad rules file). Each mistake gets one line that
names the setting, and no traceback."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from streams import __version__
from streams.broker import free_port
from streams.cli import main
from streams.cli.settings_help import settings_docs
from streams.worker.config import WorkerSettings
from tests.factories import EXAMPLE_RULES
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import settings_for, topic_env

BROKER = "127.0.0.1:1"  # never reached: every case here fails before connecting


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """The command configures logging for its process: undo it for the next test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("aiokafka.conn", "aiokafka.producer.producer"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def worker(*args: str, **env: str) -> Result:
    """`upsell worker` with only the given UPSELL_* variables set, and a free web port
    (the default one may be taken on this machine)."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("UPSELL_")}
    port = {"UPSELL_WEB_PORT": str(free_port())}
    return CliRunner().invoke(main, ["worker", *args], env={**clean, **port, **env})


def assert_one_clear_line(result: Result, code: int, *phrases: str) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for phrase in phrases:
        assert phrase in lines[0]


def test_without_a_broker_it_says_what_to_set_and_exits_2() -> None:
    result = worker("--rules", str(EXAMPLE_RULES))
    assert_one_clear_line(result, 2, "no Kafka configured", "UPSELL_KAFKA_BOOTSTRAP_SERVERS",
                          "--bootstrap-servers", "--embedded-broker")


def test_the_embedded_broker_and_a_real_one_exclude_each_other() -> None:
    result = worker("--rules", str(EXAMPLE_RULES), "--embedded-broker",
                    UPSELL_KAFKA_BOOTSTRAP_SERVERS=BROKER)
    assert_one_clear_line(result, 2, "--embedded-broker", "UPSELL_KAFKA_BOOTSTRAP_SERVERS")


@pytest.mark.parametrize(("env", "says"), [
    ({"UPSELL_WEB_PORT": "abc"}, "UPSELL_WEB_PORT='abc': Input should be a valid integer"),
    ({"UPSELL_CLOCK": "moon"}, "UPSELL_CLOCK='moon': Input should be 'event' or 'wall'"),
    ({"UPSELL_TOPIC_PARTITIONS": "0"}, "UPSELL_TOPIC_PARTITIONS='0': Input should be greater"),
    ({"UPSELL_HEALTH_BROKER_STALE_S": "-1"}, "UPSELL_HEALTH_BROKER_STALE_S='-1'"),
    ({"UPSELL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
     "UPSELL_KAFKA_*: security_protocol SASL_SSL needs sasl_mechanism"),
    ({"UPSELL_KAFKA_SECURITY_PROTOCOL": "SSL", "UPSELL_KAFKA_SSL_CAFILE": "/no/such/ca.pem"},
     "UPSELL_KAFKA_SSL_*: [Errno 2] No such file or directory"),
])
def test_a_bad_setting_is_named_with_its_value(env: dict[str, str], says: str) -> None:
    result = worker("--rules", str(EXAMPLE_RULES), UPSELL_KAFKA_BOOTSTRAP_SERVERS=BROKER, **env)
    assert_one_clear_line(result, 2, says)


def test_a_password_in_a_bad_setting_is_not_repeated() -> None:
    result = worker("--rules", str(EXAMPLE_RULES), UPSELL_KAFKA_BOOTSTRAP_SERVERS=BROKER,
                    UPSELL_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                    UPSELL_KAFKA_SASL_PASSWORD="s3cret-value")
    assert result.exit_code == 2
    assert "s3cret-value" not in result.output


def test_a_bad_rules_file_and_no_rules_on_the_topic_exit_1_with_its_problems(
    tmp_path: Path, kafka: KafkaUnderTest, topic_prefix: str,
) -> None:
    """The rules topic's latest good version would win over a broken file, so the
    broker is asked (a real one: this topic is empty)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(EXAMPLE_RULES.read_text().replace("levels: [80]", "levels: 80", 1))
    topics = settings_for(kafka, topic_prefix).topics
    result = worker(UPSELL_KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
                    UPSELL_RULES=str(rules), **topic_env(topics))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{rules}:" in result.stderr and "triggers.0.levels" in result.stderr
    assert "no rules to run" in result.stderr


def test_a_web_port_in_use_is_refused_before_starting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = worker("--rules", str(EXAMPLE_RULES), "--web-port", str(port),
                        UPSELL_KAFKA_BOOTSTRAP_SERVERS=BROKER)
    assert_one_clear_line(result, 2, f"cannot listen on 127.0.0.1:{port}", "UPSELL_WEB_PORT")


def test_a_misspelt_variable_is_pointed_out() -> None:
    result = worker("--rules", str(EXAMPLE_RULES), UPSELL_KAFKA_BOOTSTRAP_SERVER=BROKER)
    assert result.exit_code == 2  # and so no broker is configured
    assert ("WARNING streams.cli.main: UPSELL_KAFKA_BOOTSTRAP_SERVER is not a setting of the "
            "worker: ignored (did you mean UPSELL_KAFKA_BOOTSTRAP_SERVERS?)") in result.stderr


def test_help_lists_every_setting_with_its_default() -> None:
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert result.exit_code == 0
    docs = settings_docs(WorkerSettings)
    assert len(docs) > 30
    for doc in docs:
        assert f"{doc.env}={doc.default}" in result.output
    for example in ("UPSELL_KAFKA_BOOTSTRAP_SERVERS=(none)", "UPSELL_HEALTH_BROKER_STALE_S=10",
                    "UPSELL_KAFKA_START_WAIT_S=0", "UPSELL_LOG_FORMAT=text", "UPSELL_WEB_PORT=6066"):
        assert example in result.output
    assert "--embedded-broker" in result.output and "--log-format" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"upsell, version {__version__}\n"
