"""The worker's logging setup: JSON lines, secrets masked, aiokafka's wire
loggers kept at INFO (their DEBUG records carry passwords and records)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from aiokafka.protocol.admin import SaslAuthenticateRequest_v0

from streams.runtime.errors import EngineError
from streams.worker.logs import MASK, logging_config

PASSWORD = "pa55-word-4e1b"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Logging configured as the worker's (JSON, DEBUG), writing to a buffer."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logging.config.dictConfig(logging_config("debug", "json", [PASSWORD]))
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in ("aiokafka.conn", "aiokafka.producer.producer"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_aiokafka_would_log_the_password_at_debug_and_is_kept_at_info(
    captured: io.StringIO,
) -> None:
    request = SaslAuthenticateRequest_v0(f"\0upsell\0{PASSWORD}".encode())
    assert PASSWORD in repr(request)  # what aiokafka.conn logs at DEBUG for each request
    logging.getLogger("aiokafka.conn").debug("Request 3: %s", request)
    logging.getLogger("aiokafka.producer.producer").debug("Sending (key=%s value=%s)", b"acct-1",
                                                          b'{"plan": "pro"}')
    logging.getLogger("aiokafka.conn").info("Authenticated as upsell via PLAIN")
    assert [r["message"] for r in records(captured)] == ["Authenticated as upsell via PLAIN"]


def test_a_secret_anywhere_else_is_masked_in_messages_and_tracebacks(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("some.library")
    log.debug("connecting with %s", PASSWORD)
    try:
        raise ValueError(f"bad password {PASSWORD}")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    assert PASSWORD not in text
    assert records(captured)[0]["message"] == f"connecting with {MASK}"
    assert MASK in text


def test_json_lines_carry_extra_fields_and_the_traceback(captured: io.StringIO) -> None:
    log = logging.getLogger("streams.test")
    log.info("started", extra={"version": "1.2.3", "topics": ["a", "b"]})
    try:
        raise KeyError("x")
    except KeyError:
        log.error("oops", exc_info=True)
    started, oops = records(captured)
    assert started["level"] == "info" and started["logger"] == "streams.test"
    assert started["version"] == "1.2.3" and started["topics"] == ["a", "b"]
    assert str(started["time"]).endswith("Z")
    assert "KeyError" in str(oops["exception"])


def test_an_engine_error_is_logged_without_its_traceback(captured: io.StringIO) -> None:
    try:
        raise EngineError("topics must have the same number of partitions")
    except EngineError:
        logging.getLogger("mode").exception("Crashed reason=%r", "EngineError(...)")
    (crashed,) = records(captured)
    assert "exception" not in crashed


def test_text_format_and_the_level_asked_for() -> None:
    config = logging_config("warning", "text")
    assert config["handlers"]["default"]["level"] == "WARNING"
    assert config["root"]["level"] == "WARNING"
    assert config["loggers"]["aiokafka.conn"]["level"] == logging.WARNING  # never below INFO
    assert "%(levelname)s" in config["formatters"]["default"]["format"]
