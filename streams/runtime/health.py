"""What the engine knows about its own health, as facts: the worker's probes
(streams/worker/probes.py) judge them.

The fetch loop alone cannot tell a hung broker from a quiet topic (aiokafka
keeps waiting, lag stays 0), so `BrokerWatch` asks the broker for metadata on
the engine's own connection every few seconds and remembers when it last
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka.errors import KafkaError

from streams.runtime.connect import describe
from streams.runtime.errors import EngineError
from streams.runtime.settings import HealthSettings

log = logging.getLogger(__name__)

# Errors whose messages are ours or the Kafka client's: they name brokers, topics
# and settings. Any other exception's message may quote a record.
_SAYS_NO_DATA = (EngineError, KafkaError, OSError, TimeoutError)


@dataclass(frozen=True)
class ErrorNote:
    """The last thing that went wrong, fit for /status: no customer data."""

    type: str
    message: str
    at: float  # POSIX seconds

    @classmethod
    def of(cls, exc: BaseException) -> ErrorNote:
        message = describe(exc).partition(": ")[2] if isinstance(exc, _SAYS_NO_DATA) else ""
        return cls(type(exc).__name__, message[:200], time.time())


@dataclass(frozen=True)
class EngineHealth:
    """One look at the engine, taken when a probe asks."""

    connected: bool  # the clients have started (the broker answered at start)
    failed: ErrorNote | None  # the loop stopped on this error; the process is exiting
    ready: bool  # partitions assigned and their state restored
    rebalancing: bool  # a revocation or an assignment (restore) is under way
    loop_idle_s: float | None  # since the loop last turned; None before it ran
    broker_silent_s: float | None  # since the broker last answered; None: not yet
    lag: int  # records behind, over the partitions held


class BrokerWatch:
    """`start()` asks the broker every `broker_check_interval_s`; `silent_for()` says
    how long since it last answered. Logs when it stops and starts answering."""

    def __init__(self, ask: Callable[[], Awaitable[object]], bootstrap_servers: str,
                 settings: HealthSettings, on_error: Callable[[BaseException], None]) -> None:
        self._ask = ask
        self._bootstrap = bootstrap_servers
        self._settings = settings
        self._on_error = on_error
        self._last_answer: float | None = None
        self._silent_since: float | None = None  # set once the silence has been logged
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """The engine has just connected: that was an answer."""
        self._last_answer = time.monotonic()
        self._task = asyncio.create_task(self._watch(), name="upsell-broker-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def silent_for(self) -> float | None:
        if self._last_answer is None:
            return None
        return time.monotonic() - self._last_answer

    async def _watch(self) -> None:
        settings = self._settings
        while True:
            await asyncio.sleep(settings.broker_check_interval_s)
            try:
                await asyncio.wait_for(self._ask(), settings.broker_stale_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                self._missed(exc)
            else:
                self._answered()

    def _answered(self) -> None:
        now = time.monotonic()
        if self._silent_since is not None:
            log.info("broker %s answers again after %.0f s", self._bootstrap,
                     now - self._silent_since)
            self._silent_since = None
        self._last_answer = now

    def _missed(self, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError):
            exc = TimeoutError(f"no answer in {self._settings.broker_stale_s:g} s")
        silent = self.silent_for() or 0.0
        if self._silent_since is None and silent >= self._settings.broker_stale_s:
            assert self._last_answer is not None
            self._silent_since = self._last_answer
            log.warning("broker %s has not answered for %.0f s (%s): not ready until it does; "
                        "the work in hand is kept", self._bootstrap, silent, describe(exc))
            self._on_error(exc)
