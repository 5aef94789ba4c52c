"""Which rules a worker runs, and the only ways they change without a restart.

Precedence between the rules topic and the local rules file (`UPSELL_RULES`):
- at start, the latest good version on the rules topic wins when there is
  one; the file is the fallback for a topic with none (a first deployment, or
  one that never uses `upsell rules apply`). A broken file does not stop a
  worker that has a good version on the topic: it runs that and says so. With
  neither, the worker does not start.
- while running, the rules change with each new good version on the topic,
  and with the file when the worker gets a SIGHUP: whichever came last. A
  SIGHUP changes this worker only; while the topic has another version it
  says so (a restart brings the topic's version back).
- a version that cannot be used (a bad record on the topic, a broken file at a
  SIGHUP) is refused: logged with every error, counted
  (`upsell_rules_rejected_total`), and the running rules stay in force.

A switch happens between two batches (Engine.switch_rules), is logged, and is
shown in /status, /metrics and the rules status topic (`upsell rules show`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.rules_file import RulesError, load_rules
from schemas.rules_record import BadRulesRecord
from streams.runtime.errors import EngineError
from streams.runtime.rules_feed import TopicRead, read_rules_topic, read_version
from streams.runtime.rules_status import StatusReporter, rfc3339
from streams.runtime.settings import TopicSettings
from triggers import RuleBook

if TYPE_CHECKING:
    from streams.runtime.loop import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartingRules:
    """The rules a worker starts with, and what to say about the choice."""

    book: RuleBook
    source: str  # "rules topic offset 3" or "file rules.yaml"
    topic_version: str | None  # the topic's latest good version
    follow_from: int  # the offset after the records read at start
    notes: list[tuple[int, str]] = field(default_factory=list)  # (log level, message)


def starting_rules(path: Path, from_file: RuleBook | RulesError, read: TopicRead) -> StartingRules:
    """Apply the precedence at start (see the module's docstring)."""
    notes = [(logging.ERROR, f"rules refused: {reason}") for reason in read.refused]
    latest = read.latest
    if latest is None:
        if isinstance(from_file, RulesError):
            refused = f"; records refused: {len(read.refused)}" if read.refused else ""
            raise EngineError(f"{from_file}\nno rules to run: the rules file is broken and "
                              f"the rules topic has no good version{refused}")
        notes.append((logging.INFO, f"running rules {from_file.version} from the rules file "
                                    f"{path} (the rules topic has no version)"))
        return StartingRules(from_file, f"file {path}", None, read.end, notes)
    version = latest.book.version
    if isinstance(from_file, RulesError):
        notes.append((logging.WARNING,
                      f"the rules file {path} is broken (problems: {len(from_file.problems)}); "
                      f"running {version} from the {latest.source} instead:\n{from_file}"))
    elif from_file.version != version:
        notes.append((logging.WARNING,
                      f"running rules {version} from the {latest.source}, not the rules file "
                      f"{path} ({from_file.version}): the topic's latest good version wins; "
                      f"`upsell rules apply {path}` makes the file every worker's"))
    else:
        notes.append((logging.INFO, f"running rules {version} from the {latest.source} "
                                    f"(the same as {path})"))
    return StartingRules(latest.book, latest.source, version, read.end, notes)


async def read_starting_rules(path: Path, bootstrap_servers: str, topics: TopicSettings,
                              client_options: dict[str, Any]) -> StartingRules:
    """Read the rules file and the rules topic, and choose; EngineError when there is
    nothing to run."""
    try:
        from_file: RuleBook | RulesError = RuleBook.compile(load_rules(path))
    except RulesError as exc:
        from_file = exc
    read = await read_rules_topic(bootstrap_servers, topics, client_options)
    return starting_rules(path, from_file, read)


class LiveRules:
    """The rules in force in one engine: switched to between two batches, or refused."""

    def __init__(self, engine: Engine, start: StartingRules, rules_path: Path,
                 reporter: StatusReporter | None = None) -> None:
        self.engine = engine
        self.rules_path = rules_path
        self.source = start.source
        self.since = datetime.now(UTC)
        self.topic_version = start.topic_version
        self.last_refused: str | None = None
        self._reporter = reporter
        self._lock = asyncio.Lock()  # one change at a time, in the order they came

    async def on_record(self, offset: int, value: bytes | None) -> None:
        """A record read from the rules topic while running."""
        try:
            version = read_version(offset, value)
        except BadRulesRecord as exc:
            self.refuse(str(exc))
            return
        async with self._lock:
            self.topic_version = version.book.version
            await self._use(version.book, version.source)

    async def reload_file(self) -> None:
        """SIGHUP: the rules file again; a broken one is refused."""
        path = self.rules_path
        try:
            book = RuleBook.compile(load_rules(path))
        except RulesError as exc:
            self.refuse(f"the rules file at SIGHUP:\n{exc}")
            return
        async with self._lock:
            await self._use(book, f"file {path}")
            if self.topic_version not in (None, book.version):
                log.warning("this worker runs %s from %s, the rules topic's latest version is "
                            "%s: the other workers keep theirs and a restart brings the "
                            "topic's back; `upsell rules apply %s` makes it every worker's",
                            book.version, path, self.topic_version, path)

    def refuse(self, reason: str) -> None:
        self.engine.metrics.rules_rejected += 1
        self.last_refused = reason
        log.error("rules refused, %s stays in force: %s", self.engine.book.version, reason)

    async def _use(self, book: RuleBook, source: str) -> None:
        running = self.engine.book.version
        if book.version == running:
            log.info("rules %s from %s: already in force", running, source)
            self.source = source
            return
        await self.engine.switch_rules(book)
        self.source, self.since = source, datetime.now(UTC)
        log.info("rules switched from %s to %s (%s), between two batches",
                 running, book.version, source)
        await self.report()

    async def report(self) -> None:
        """Write this worker's record to the rules status topic (at start, at each
        switch, and now and then: streams/runtime/rules_status.py)."""
        if self._reporter is None:
            return
        try:
            await self._reporter.report(self.engine.book.version, self.source, self.since)
        except Exception as exc:  # the report is for people; the engine goes on without it
            log.warning("could not write to the rules status topic (%s)", type(exc).__name__)

    def status(self) -> dict[str, Any]:
        """For /status."""
        metrics = self.engine.metrics
        return {
            "version": self.engine.book.version,
            "source": self.source,
            "since": rfc3339(self.since),
            "topic_version": self.topic_version,
            "switches": metrics.rules_switches,
            "rejected": metrics.rules_rejected,
            "last_rejected": self.last_refused,
        }
