"""`upsell dlq`: read the dead-letter topic, and send chosen records back.

The engine dead-letters a record with its original key and bytes, and headers
that say why and where it came from (streams/runtime/routing.py). Values are
customer data: they are shown only when asked for. A redrive sends the
original key and bytes back to the events topic, after the cause was fixed (a
producer bug, a rules file that lacked a metric, an engine bug); the event is
decided as if it had just arrived.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from streams.cli.offsets import high_watermarks, read_between, topic_partitions
from streams.cli.ops_errors import TopicMissing
from streams.cli.pretty import utc_time
from streams.runtime.routing import (
    DLQ_REASON,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_VALUE_OMITTED,
)

# The header a redriven record carries: "<dlq topic>/<partition>/<offset>" it was
# sent back from, so that a record dead-lettered again can be traced.
REDRIVEN_FROM = "upsell.redriven_from"
_KEY_CHARS = 80  # longer keys are cut in the listing (keys are account ids)


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, its headers read."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int  # when it was dead-lettered
    key: bytes | None
    value: bytes | None
    reason: str | None  # None: no reason header (not written by the engine)
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    omitted_bytes: int | None  # the value was too large to keep with the headers: its size

    @classmethod
    def from_record(cls, record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
        headers = {name: value.decode(errors="replace") for name, value in record.headers or ()}
        return cls(
            record.topic, record.partition, record.offset, record.timestamp, record.key,
            record.value, headers.get(DLQ_REASON), headers.get(DLQ_SOURCE_TOPIC),
            _int(headers.get(DLQ_SOURCE_PARTITION)), _int(headers.get(DLQ_SOURCE_OFFSET)),
            _int(headers.get(DLQ_VALUE_OMITTED)),
        )

    @property
    def position(self) -> str:
        """PARTITION:OFFSET in the dead-letter topic: what `--offset` selects."""
        return f"{self.partition}:{self.offset}"

    @property
    def source(self) -> str:
        if self.source_topic is None:
            return "unknown source"
        return f"{self.source_topic} {self.source_partition}:{self.source_offset}"

    @property
    def size(self) -> int:
        return self.omitted_bytes if self.omitted_bytes is not None else len(self.value or b"")

    def to_dict(self, show_value: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "partition": self.partition, "offset": self.offset,
            "timestamp_ms": self.timestamp_ms, "reason": self.reason,
            "source": {"topic": self.source_topic, "partition": self.source_partition,
                       "offset": self.source_offset},
            "key": None if self.key is None else self.key.decode(errors="replace"),
            "value_bytes": self.size, "value_kept": self.omitted_bytes is None,
        }
        if show_value and self.value is not None:
            try:
                data["value"] = self.value.decode()
            except UnicodeDecodeError:
                data["value_base64"] = base64.b64encode(self.value).decode()
        return data

    def describe(self, show_value: bool = False) -> str:
        """One readable line (and the value on the next, if asked for)."""
        key = "no key" if self.key is None else _printable(self.key, _KEY_CHARS)
        size = (f"value not kept: {self.omitted_bytes} bytes" if self.omitted_bytes is not None
                else f"{self.size} bytes")
        line = (f"{self.position:<9} {utc_time(self.timestamp_ms / 1000)}  from {self.source}  key {key}  "
                f"({size})  {self.reason or 'no reason header: not written by the engine'}")
        if show_value and self.value is not None:
            line += "\n    " + _printable(self.value)
        return line


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command is about: every one matching all the filters given."""

    positions: frozenset[tuple[int, int]] = frozenset()  # (partition, offset)
    reason_contains: str | None = None

    @property
    def filters(self) -> bool:
        return bool(self.positions) or self.reason_contains is not None

    def matches(self, letter: DeadLetter) -> bool:
        if self.positions and (letter.partition, letter.offset) not in self.positions:
            return False
        return self.reason_contains is None or self.reason_contains.lower() in (
            letter.reason or "").lower()


def parse_position(text: str) -> tuple[int, int]:
    """'3:1207' -> (3, 1207); ValueError names what was expected."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{text!r}: expected PARTITION:OFFSET, e.g. 3:1207")
    return int(partition), int(offset)


async def read_dead_letters(
    bootstrap_servers: str, client_options: dict[str, Any], topic: str,
    selection: Selection = Selection(), limit: int | None = None, from_beginning: bool = False,
) -> list[DeadLetter]:
    """The selected dead letters in the order they were dead-lettered: the latest
    `limit` of them, or the first `limit` with `from_beginning` (None: all). Reads
    up to the end the topic had when it was called."""
    partitions = await topic_partitions(bootstrap_servers, client_options, topic)
    if partitions is None:
        raise TopicMissing(f"topic {topic} does not exist (`upsell topics check`)")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                fetch_max_wait_ms=100, **client_options)
    await consumer.start()
    try:
        ends = await high_watermarks(consumer, partitions)
        starts = await consumer.beginning_offsets(partitions)
        if limit is not None and not from_beginning and not selection.filters:
            # Unfiltered latest: no partition can contribute more than `limit`.
            starts = {tp: max(start, ends[tp] - limit) for tp, start in starts.items()}
        letters = [letter async for record in read_between(consumer, starts, ends)
                   if selection.matches(letter := DeadLetter.from_record(record))]
    finally:
        await consumer.stop()
    letters.sort(key=lambda d: (d.timestamp_ms, d.partition, d.offset))
    if limit is None:
        return letters
    return letters[:limit] if from_beginning else letters[-limit:]


@dataclass(frozen=True)
class Redrive:
    """What a redrive did with one dead letter."""

    letter: DeadLetter
    skipped: str | None = None  # why it could not be sent (None: sent, or would be)

    def to_dict(self, topic: str, dry_run: bool) -> dict[str, Any]:
        action = "skipped" if self.skipped else "would send" if dry_run else "sent"
        return {"partition": self.letter.partition, "offset": self.letter.offset,
                "action": action, "to": None if self.skipped else topic, "why": self.skipped}

    def describe(self, topic: str, dry_run: bool) -> str:
        letter = self.letter
        if self.skipped:
            return f"skipped {letter.position}: {self.skipped}"
        key = "no key" if letter.key is None else _printable(letter.key, _KEY_CHARS)
        verb = "would send" if dry_run else "sent"
        return (f"{verb} {letter.position} to {topic} (key {key}, {letter.size} bytes; "
                f"was: {letter.reason})")


def why_not_redriven(letter: DeadLetter) -> str | None:
    """Why a dead letter cannot go back as it is (None: it can)."""
    if letter.omitted_bytes is not None:
        return (f"its value was not kept ({letter.omitted_bytes} bytes, too large); the "
                f"original is at {letter.source} while that topic retains it")
    if letter.value is None:
        return "an empty record (no value): nothing to send"
    return None


async def redrive(
    bootstrap_servers: str, client_options: dict[str, Any], events_topic: str,
    letters: Iterable[DeadLetter], dry_run: bool = False,
) -> list[Redrive]:
    """Send each dead letter's original key and bytes to the events topic, keyed as
    it was (so the default partitioner puts it on its account's partition), and
    wait until the broker has them all."""
    results = [Redrive(letter, why_not_redriven(letter)) for letter in letters]
    to_send = [result for result in results if result.skipped is None]
    if dry_run or not to_send:
        return results
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all",
                                **client_options)
    await producer.start()
    try:
        deliveries = []
        for result in to_send:
            letter = result.letter
            origin = f"{letter.topic}/{letter.partition}/{letter.offset}".encode()
            deliveries.append(await producer.send(events_topic, letter.value, key=letter.key,
                                                  headers=[(REDRIVEN_FROM, origin)]))
        for delivery in deliveries:
            await delivery
    finally:
        await producer.stop()
    return results


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _printable(raw: bytes, limit: int | None = None) -> str:
    """Bytes as text a terminal shows safely: undecodable bytes and control
    characters escaped, cut at `limit` characters."""
    text = raw.decode(errors="backslashreplace")
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return text if limit is None or len(text) <= limit else text[:limit] + "..."
