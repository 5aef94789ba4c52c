"""Reaching the broker: ask it directly, and retry with backoff while it is not there.

A worker started while Kafka restarts must wait for it, not exit; one given a
wrong password must say so and stop, not retry for ever. aiokafka's own
bootstrap reports every failure as one retriable "Unable to bootstrap", so the
broker is first asked here, one connection per bootstrap address, which gives
the real reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from streams.runtime.errors import EngineError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The first pause after a failed try; it doubles up to the setting's maximum.
FIRST_BACKOFF_S = 0.5
#: One try's limit: a broker that is up answers a Metadata request in milliseconds.
PROBE_TIMEOUT_S = 10.0

_REFUSED = (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError,
            ssl.SSLCertVerificationError)


class BrokerRefused(EngineError):
    """The broker answered and refused us (credentials, TLS): retrying cannot help."""


class BrokerUnavailable(EngineError):
    """The broker did not answer within the time allowed for it."""


def is_retriable(exc: BaseException) -> bool:
    """A broker that is down, restarting or slow: worth another try."""
    if isinstance(exc, (EngineError, *_REFUSED)):
        return False
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return isinstance(exc, OSError | TimeoutError)


def describe(exc: BaseException) -> str:
    """`Type: message` of a client error, one line (aiokafka's messages name brokers
    and topics, never records)."""
    name = type(exc).__name__
    lines = str(exc).strip().splitlines()
    text = lines[0].removeprefix(f"{name}: ") if lines else ""  # KafkaError's str names it
    return f"{name}: {text}" if text else name


class Backoff:
    """0.5 s, 1 s, 2 s, ... up to `max_s`; `reset()` after a success."""

    def __init__(self, max_s: float) -> None:
        self.max_s = max_s
        self._next = FIRST_BACKOFF_S

    def next(self) -> float:
        delay = min(self._next, self.max_s)
        self._next = min(self._next * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self._next = FIRST_BACKOFF_S


async def ask_broker(bootstrap_servers: str, client_options: dict[str, Any]) -> None:
    """One Metadata round trip with the first bootstrap address that answers.
    Raises BrokerRefused for credentials or TLS the broker rejects, else the
    last address's error."""
    error: BaseException = OSError(f"no address in {bootstrap_servers!r}")
    for address in bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), client_id="upsell-probe",
                            request_timeout_ms=int(PROBE_TIMEOUT_S * 1000), **client_options),
                PROBE_TIMEOUT_S,
            )
        except _REFUSED as exc:
            raise BrokerRefused(
                f"the broker at {address} refused the connection ({describe(exc)}): check "
                "UPSELL_KAFKA_SECURITY_PROTOCOL, UPSELL_KAFKA_SASL_* and UPSELL_KAFKA_SSL_*"
            ) from None
        except (OSError, KafkaError, TimeoutError) as exc:
            error = exc
            continue
        try:
            await asyncio.wait_for(conn.send(MetadataRequest([])), PROBE_TIMEOUT_S)
            return
        except (KafkaError, TimeoutError) as exc:
            error = exc
        finally:
            conn.close()
    raise error


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    *,
    bootstrap_servers: str,
    backoff_max_s: float,
    give_up_after_s: float,
    stopping: asyncio.Event | None = None,
    on_failure: Callable[[BaseException], None] = lambda exc: None,
) -> T:
    """What `attempt` returns, once it succeeds. A failure that cannot be retried
    is raised as it is, and so is CancelledError when `stopping` is set. Each
    retriable failure is logged with the pause before the next try, and given to
    `on_failure`."""
    stopping = stopping or asyncio.Event()
    backoff = Backoff(backoff_max_s)
    started = time.monotonic()
    tries = 0
    while True:
        if stopping.is_set():
            raise asyncio.CancelledError("stopping")
        tries += 1
        try:
            result = await attempt()
            if tries > 1:
                log.info("broker %s reached after %d tries (%.0f s)", bootstrap_servers, tries,
                         time.monotonic() - started)
            return result
        except Exception as exc:
            if not is_retriable(exc):
                raise
            waited = time.monotonic() - started
            if give_up_after_s and waited >= give_up_after_s:
                raise BrokerUnavailable(
                    f"the broker at {bootstrap_servers} did not answer in {waited:.0f} s "
                    f"({describe(exc)}); UPSELL_KAFKA_START_WAIT_S={give_up_after_s:g}"
                ) from None
            pause = backoff.next()
            if give_up_after_s:
                pause = min(pause, give_up_after_s - waited)
            log.warning("broker %s not reachable (%s); try %d failed, next in %.1f s",
                        bootstrap_servers, describe(exc), tries, pause)
            on_failure(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
