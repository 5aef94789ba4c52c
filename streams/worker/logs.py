"""The worker's logging: text or one JSON object per line, on stderr, with no
secrets and no customer data at any level.

Two aiokafka loggers write what must never reach a log at DEBUG:
`aiokafka.conn` logs every request and response struct (a SASL PLAIN
SaslAuthenticate request carries the password; produce and fetch structs
carry records) and `aiokafka.producer.producer` logs every record's key and
value. They stay at INFO whatever the level asked for. A filter also masks
the configured secrets in any record, in case another library repeats one.

The stdlib is enough for JSON lines: a formatter of twenty lines over orjson.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from streams import __version__
from streams.runtime.errors import EngineError

if TYPE_CHECKING:
    from streams.worker.config import WorkerSettings

LogFormat = Literal["text", "json"]

#: Loggers capped at INFO (see the module's docstring).
CAPPED_AT_INFO = ("aiokafka.conn", "aiokafka.producer.producer")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "[redacted]"

# What every LogRecord has; anything else was passed with `extra=` and goes into
# the JSON object as a field of its own.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the `extra`
    fields, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class MaskSecrets(logging.Filter):
    """Replaces each secret with a mask in the message and traceback of a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it at emit
            return True
        if any(secret in message for secret in self._secrets):
            record.msg, record.args = self._mask(message), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            if any(secret in text for secret in self._secrets):
                record.exc_info, record.exc_text = None, self._mask(text)
        return True

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class NoTracebackForEngineErrors(logging.Filter):
    """An EngineError says what is wrong and what to do (a topic layout, a
    refused password, a broker that never came): its message is the whole story,
    and the traceback mode adds when the worker stops on it is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], EngineError):
            record.exc_info = None
        return True


def worker_logging(settings: WorkerSettings) -> dict[str, Any]:
    """The worker's logging, as its settings ask, masking its Kafka password."""
    password = settings.kafka.sasl_password
    secrets = [password.get_secret_value()] if password is not None else []
    return logging_config(settings.log_level, settings.log_format, secrets)


def logging_config(level: str, log_format: LogFormat, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A `logging.config.dictConfig`: the command applies it at once, and faust's
    Worker again when it starts."""
    level = level.upper()
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,  # the modules' loggers exist before this runs
        "formatters": {"default": formatter},
        "filters": {
            "secrets": {"()": MaskSecrets, "secrets": list(secrets)},
            "engine_errors": {"()": NoTracebackForEngineErrors},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "level": level,  # faust sets the root to DEBUG at warning, for its spinner
                "filters": ["engine_errors", "secrets"],
            },
        },
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {
            name: {"level": max(logging.INFO, logging.getLevelName(level))}
            for name in CAPPED_AT_INFO
        },
    }


def startup_line(settings: WorkerSettings, bootstrap_servers: str,
                 rules_version: str) -> tuple[str, dict[str, Any]]:
    """The one line a worker logs at start, and the same facts as fields for JSON
    logs: what runs, against which broker and topics, with which rules, and where
    its web server listens. No credentials."""
    web = (f"http://{settings.web_bind}:{settings.web_port}" if settings.web_enabled else "off")
    fields: dict[str, Any] = {
        "version": __version__,
        "broker": bootstrap_servers,
        "security_protocol": settings.kafka.security_protocol,
        "group_id": settings.group_id,
        "topics": list(settings.topics.names().values()),
        "rules_file": str(settings.rules),
        "rules_version": rules_version,
        "web": web,
    }
    message = (
        f"upsell {__version__} worker starting: broker {bootstrap_servers} "
        f"({settings.kafka.security_protocol}), group {settings.group_id}, topics "
        f"{', '.join(fields['topics'])}, rules version {rules_version} (rules file "
        f"{settings.rules}), web {web}"
    )
    return message, fields
