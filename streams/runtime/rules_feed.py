"""The rules topic: `upsell rules apply` publishes a version there, every worker
reads it at start and follows it while running (streams/runtime/live_rules.py
decides what to do with each version).

One partition, so the order of versions is the order of offsets. Compacted,
with the version as the key (schemas/rules_record.py): the topic keeps one
record per version, so the latest good version stays readable even after a
bad record (another tool's) has been written behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ConsumerStoppedError
from aiokafka.structs import ConsumerRecord

from schemas.rules_file import LoadedRules
from schemas.rules_record import BadRulesRecord, decode_rules_record, encode_rules_record
from streams.runtime.errors import EngineError
from streams.runtime.settings import TopicSettings
from streams.runtime.topics import ensure_topics
from triggers import RuleBook

log = logging.getLogger(__name__)

# The follower's longest wait for a new record: bounds how long a new version
# takes to reach a worker (the embedded broker holds an empty fetch this long).
FOLLOW_WAIT_MS = 500
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RulesVersion:
    """A good version read from the rules topic, compiled."""

    book: RuleBook
    offset: int
    applied_at: str | None

    @property
    def source(self) -> str:
        return f"rules topic offset {self.offset}"


def read_version(offset: int, value: bytes | None) -> RulesVersion:
    """The rules of one record, validated and compiled; BadRulesRecord if unusable."""
    where = f"rules topic offset {offset}"
    applied = decode_rules_record(value, where)
    try:
        book = RuleBook.compile(applied.loaded)
    except Exception as exc:  # valid rules the core cannot compile: a bug, not the record's
        raise BadRulesRecord(f"{where}: cannot be compiled ({type(exc).__name__})") from exc
    return RulesVersion(book, offset, applied.applied_at)


@dataclass
class TopicRead:
    """The rules topic read to its end: its latest good version, the records refused."""

    latest: RulesVersion | None = None
    refused: list[str] = field(default_factory=list)
    end: int = 0  # the offset to follow it from

    def take(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            self.latest = read_version(record.offset, record.value)
        except BadRulesRecord as exc:
            self.refused.append(str(exc))


async def read_rules_topic(
    bootstrap_servers: str, topics: TopicSettings, client_options: dict[str, Any]
) -> TopicRead:
    """Every record of the rules topic (created if missing), up to its end."""
    await ensure_topics(bootstrap_servers, topics, client_options)
    read = TopicRead()
    records, read.end = await read_to_end(bootstrap_servers, topics.rules, client_options)
    for record in records:
        read.take(record)
    return read


async def read_to_end(
    bootstrap_servers: str, topic: str, client_options: dict[str, Any]
) -> tuple[list[ConsumerRecord[bytes, bytes]], int]:
    """All records of a one-partition control topic, and its end offset. The end
    is the high watermark reported with fetched data (ListOffsets is not reliable
    on every broker: ../shared/BROKER_NOTES.md)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                fetch_max_wait_ms=100, **client_options)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while True:
            batch = await consumer.getmany(tp, timeout_ms=400)
            records.extend(batch.get(tp, []))
            end = consumer.highwater(tp)
            if end is not None and await consumer.position(tp) >= end:
                return records, end
            if time.monotonic() > deadline:
                raise EngineError(f"could not read topic {topic} to its end in "
                                  f"{READ_TIMEOUT_S:g} s: is the broker reachable?")
    finally:
        await consumer.stop()


async def publish_rules(
    bootstrap_servers: str, topics: TopicSettings, client_options: dict[str, Any],
    loaded: LoadedRules,
) -> int:
    """Publish validated rules as the latest version; returns its offset."""
    await ensure_topics(bootstrap_servers, topics, client_options)
    key, value = encode_rules_record(loaded, datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all",
                                **client_options)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topics.rules, value, key=key, partition=0)
    finally:
        await producer.stop()
    offset: int = sent.offset
    return offset


class RulesFeed:
    """Follows the rules topic from an offset, handing each record to `handle`
    (offset, value) in order. `start()`, `run()`, `stop()`."""

    def __init__(self, bootstrap_servers: str, topic: str, client_options: dict[str, Any],
                 start_offset: int,
                 handle: Callable[[int, bytes | None], Awaitable[None]]) -> None:
        self._tp = TopicPartition(topic, 0)
        self._start_offset = start_offset
        self._handle = handle
        self._stopping = False
        self._client = {"bootstrap_servers": bootstrap_servers, **client_options}
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(enable_auto_commit=False,
                                          fetch_max_wait_ms=FOLLOW_WAIT_MS, **self._client)
        await self._consumer.start()
        self._consumer.assign([self._tp])
        self._consumer.seek(self._tp, self._start_offset)

    async def run(self) -> None:
        """Until `stop()`. A record that `handle` fails on is logged and skipped: the
        feed must outlive any one record."""
        assert self._consumer is not None, "start() first"
        while not self._stopping:
            try:
                batch = await self._consumer.getmany(self._tp, timeout_ms=FOLLOW_WAIT_MS * 2)
            except ConsumerStoppedError:
                return
            for record in batch.get(self._tp, []):
                try:
                    await self._handle(record.offset, record.value)
                except Exception:
                    log.exception("rules topic offset %d could not be handled", record.offset)

    async def stop(self) -> None:
        self._stopping = True
        if self._consumer is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._consumer.stop(), 10)
