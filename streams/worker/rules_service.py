"""Live rules in the worker process: the rules chosen at start, the rules topic
followed while running, this worker's version reported, and SIGHUP.

SIGHUP reloads the rules file instead of ending the process (Python's default
for it): mode's Worker handles SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 only. A
plain handler is set before faust starts, so that a SIGHUP during start-up is
remembered rather than fatal; once the service runs, the event loop's handler
takes over. The precedence between the file and the topic is in
streams/runtime/live_rules.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import mode

from streams.runtime.live_rules import LiveRules, StartingRules
from streams.runtime.loop import Engine
from streams.runtime.rules_feed import RulesFeed
from streams.runtime.rules_status import REPORT_EVERY_S, StatusReporter
from streams.worker.config import WorkerSettings

log = logging.getLogger(__name__)


class RulesService(mode.Service):
    """Follows the rules topic for one engine; reloads the rules file on SIGHUP."""

    def __init__(self, engine: Engine, start: StartingRules, settings: WorkerSettings,
                 bootstrap_servers: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        options = settings.kafka.client_options()
        self.reporter = StatusReporter(bootstrap_servers, settings.topics.rules_status, options,
                                       settings.group_id)
        self.live = LiveRules(engine, start, settings.rules, self.reporter)
        self.feed = RulesFeed(bootstrap_servers, settings.topics.rules, options,
                              start.follow_from, self.live.on_record)
        self._notes = start.notes
        self._sighup_pending = False

    def catch_sighup_early(self) -> None:
        """Until on_start: remember a SIGHUP instead of dying of it."""
        def remember(signum: int, frame: object) -> None:
            self._sighup_pending = True
        signal.signal(signal.SIGHUP, remember)

    async def on_start(self) -> None:
        for level, message in self._notes:
            log.log(level, message)
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        await self.reporter.start()
        await self.feed.start()
        await self.live.report()
        if self._sighup_pending:
            self._on_sighup()

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading the rules file %s", self.live.rules_path)
        self.add_future(self.live.reload_file())

    @mode.Service.task
    async def _follow(self) -> None:
        await self.feed.run()

    @mode.Service.timer(REPORT_EVERY_S)
    async def _report(self) -> None:
        await self.live.report()

    async def on_stop(self) -> None:
        await self.feed.stop()
        with contextlib.suppress(Exception):  # the broker may be gone: nothing to say then
            await asyncio.wait_for(self.reporter.stop(), 10)
