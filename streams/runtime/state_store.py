"""Per-partition account state, backed by a compacted changelog topic.

Each partition of the events topic has one `PartitionState`: the accounts that
live there, the source offset each account last applied, and which accounts
changed since the last checkpoint. At a checkpoint each changed account is
written once to the changelog partition with the same number; on assignment the
partition is rebuilt by reading that changelog partition to its end.

The changelog record is a contract that outlives the process (format 2):

    key   account id (UTF-8)
    value {"v": 2, "offset": N, "forwarded": {"<partition>": N, ...}, "state": {...}}
          (`forwarded` only for accounts that had events forwarded)

`offset` is the source offset of the last event applied on the home partition;
`forwarded` is, per partition an event was forwarded from, the highest origin
offset applied (a forwarded copy gets a new offset each time it is forwarded,
so only its origin tells a re-forwarded duplicate); `state` is the account
(triggers/state.py, versioned on its own). Format 1 (no `v`, no `forwarded`)
is read as well. One more key, `PARTITION_KEY`, holds the partition's own
record, `{"v": 2, "offers_end": N, "outcomes_end": M, "clock": T}`: the end
offsets of the offers and outcomes partitions at the last checkpoint, and the
partition's clock then (POSIX seconds; it never goes back, across restarts
too). Any may be absent.

Each partition's accounts live in a `Timeline` (triggers/timeline.py) once the
engine attaches its rules (`attach`): the clock and the index of due times the
sweep reads, rebuilt from the accounts' timers at every restore.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from triggers import AccountState, RuleBook
from triggers.exceptions import StateFormatError
from triggers.schedule import NEVER
from triggers.state import encode_state
from triggers.timeline import Timeline

log = logging.getLogger(__name__)

CHANGELOG_FORMAT = 2
# Account ids hold no control characters (schemas/events.py), so this key
# cannot be an account's.
PARTITION_KEY = b"\x00partition"


class PartitionState:
    """The accounts of one partition."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.accounts: dict[str, AccountState] = {}
        # Source offset of the last event applied to each account: a record
        # replayed after a crash (offsets not yet committed, state already in
        # the changelog) is recognised and skipped, exactly.
        self.applied: dict[str, int] = {}
        # account -> {origin partition: highest origin offset applied}
        self.forwarded: dict[str, dict[int, int]] = {}
        self.dirty: set[str] = set()
        # End of the offers partition at the last checkpoint, and the ids of the
        # offers found past it at restore: decided again after a crash, they are
        # not sent again (offer ids are deterministic).
        self.offers_end: int | None = None
        self.already_sent: set[str] = set()
        self.outcomes_end: int | None = None  # likewise for the outcomes and their ids
        self.already_reported: set[str] = set()
        self.legacy = False  # holds records of format 1, written before offers_end existed
        self.restored_clock = NEVER  # the clock at the last checkpoint, until `attach`
        self.written_clock = NEVER  # the clock in the last partition record written
        self.timeline: Timeline | None = None

    def attach(self, book: RuleBook, drop_expired: bool = False) -> Timeline:
        """Put the accounts on a timeline under these rules: the clock where the last
        checkpoint left it, every due time recomputed and indexed."""
        timeline = Timeline(book, self.accounts, drop_expired)
        timeline.schedule.advance(self.restored_clock)
        timeline.reschedule()
        self.timeline = timeline
        return timeline

    @property
    def clock(self) -> float:
        return self.timeline.schedule.clock if self.timeline is not None else self.restored_clock

    def load(self, key: bytes, value: bytes | None) -> None:
        """Apply one changelog record. Per account the record with the highest
        applied offset wins, not the last one: a worker that lost its partitions
        without knowing may still write an older state after the new owner."""
        if key == PARTITION_KEY:
            if value is not None:
                record = orjson.loads(value)
                end, clock = record.get("offers_end"), record.get("clock")
                if end is not None:
                    self.offers_end = max(end, self.offers_end or 0)
                outcomes_end = record.get("outcomes_end")
                if outcomes_end is not None:
                    self.outcomes_end = max(outcomes_end, self.outcomes_end or 0)
                if clock is not None:
                    self.restored_clock = self.written_clock = max(clock, self.restored_clock)
            return
        account_id = key.decode()
        if value is None:
            self.accounts.pop(account_id, None)
            self.applied.pop(account_id, None)
            self.forwarded.pop(account_id, None)
            return
        record = orjson.loads(value)
        version = record.get("v", 1)
        self.legacy = self.legacy or version == 1
        if version > CHANGELOG_FORMAT:
            raise StateFormatError(
                f"changelog record format {version} is newer than this engine's "
                f"({CHANGELOG_FORMAT}): run the newer version, or restore with it"
            )
        offset: int = record["offset"]
        if self.applied.get(account_id, -1) > offset:
            return
        self.accounts[account_id] = AccountState.from_dict(record["state"])
        self.applied[account_id] = offset
        forwarded = record.get("forwarded")
        if forwarded:
            self.forwarded[account_id] = {int(p): o for p, o in forwarded.items()}
        else:
            self.forwarded.pop(account_id, None)

    def already_forwarded(self, account_id: str, origin_partition: int, origin_offset: int) -> bool:
        """True if a forwarded event with this origin was already applied."""
        origins = self.forwarded.get(account_id)
        return origins is not None and origins.get(origin_partition, -1) >= origin_offset

    def applied_forward(self, account_id: str, origin_partition: int, origin_offset: int) -> None:
        self.forwarded.setdefault(account_id, {})[origin_partition] = origin_offset

    @property
    def highest_applied(self) -> int:
        return max(self.applied.values(), default=-1)

    def drain_changes(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) changelog records for the accounts changed since the last call."""
        dirty, self.dirty = self.dirty, set()
        accounts, applied, forwarded = self.accounts, self.applied, self.forwarded
        for account_id in dirty:
            origins = forwarded.get(account_id)
            # Spliced rather than nested in a dict: the state is serialised once.
            # `forwarded` only where events were forwarded (rare): load reads its absence.
            extra = b',"forwarded":%b' % orjson.dumps(
                {str(p): o for p, o in origins.items()}) if origins else b""
            yield account_id.encode(), b'{"v":2,"offset":%d%b,"state":%b}' % (
                applied[account_id], extra, encode_state(accounts[account_id]),
            )


def partition_record(offers_end: int | None, clock: float = NEVER,
                     outcomes_end: int | None = None) -> bytes:
    record: dict[str, int | float] = {"v": CHANGELOG_FORMAT}
    if offers_end is not None:
        record["offers_end"] = offers_end
    if outcomes_end is not None:
        record["outcomes_end"] = outcomes_end
    if clock != NEVER:
        record["clock"] = clock
    return orjson.dumps(record)


async def restore(
    changelog: str,
    partitions: Iterable[int],
    client_options: dict[str, Any],
    bootstrap_servers: str,
    fetch_max_wait_ms: int = 50,
    committed_only: bool = False,
    sent_topics: tuple[str, str] | None = None,
) -> dict[int, PartitionState]:
    """Rebuild the state of these partitions from the changelog.

    Reads each changelog partition up to the high watermark reported with the
    fetched data: ListOffsets (`end_offsets`) is not reliable on every
    Kafka-compatible broker, the watermark in fetch responses is. With
    transactions (`committed_only`), state of an aborted checkpoint must not
    come back: it reads committed records only, up to the last stable offset.
    Given `sent_topics` (offers and outcomes; at-least-once only), it then reads
    each of their partitions past the end recorded at the last checkpoint, for
    the offers and outcomes that must not be sent twice.
    """
    states = {partition: PartitionState(partition) for partition in partitions}
    if not states:
        return states
    started = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
        **client_options,
    )
    await consumer.start()
    try:
        records = await read_to_end(
            consumer, {TopicPartition(changelog, p): 0 for p in states}, committed_only,
            fetch_max_wait_ms, lambda tp, key, value: states[tp.partition].load(key, value),
        )
        if sent_topics is not None:
            # No end recorded: nothing was ever acknowledged at a checkpoint there,
            # so every record on it may be decided again (read from 0); unless the
            # changelog predates partition records.
            offers_topic, outcomes_topic = sent_topics
            starts = {TopicPartition(offers_topic, p): s.offers_end
                      for p, s in states.items() if s.offers_end is not None or not s.legacy}
            starts.update({TopicPartition(outcomes_topic, p): s.outcomes_end
                           for p, s in states.items()
                           if s.outcomes_end is not None or not s.legacy})

            def note(tp: TopicPartition, key: bytes, value: bytes | None) -> None:
                if value is None:
                    return
                state = states[tp.partition]
                if tp.topic == offers_topic:
                    state.already_sent.add(orjson.loads(value)["offer_id"])
                else:
                    state.already_reported.add(orjson.loads(value)["outcome_id"])

            await read_to_end(consumer, starts, committed_only, fetch_max_wait_ms, note)
    finally:
        await consumer.stop()
    log.info(
        "restored %d accounts of partitions %s from %d changelog records in %.2fs",
        sum(len(s.accounts) for s in states.values()),
        sorted(states),
        records,
        time.monotonic() - started,
    )
    return states


async def read_to_end(
    consumer: AIOKafkaConsumer,
    starts: Mapping[TopicPartition, int | None],
    committed_only: bool,
    fetch_max_wait_ms: int,
    apply: Callable[[TopicPartition, bytes, bytes | None], None],
) -> int:
    """Feed every keyed record from each start offset to the end to `apply`."""
    if not starts:
        return 0
    remaining = set(starts)
    consumer.assign(list(remaining))
    for tp, offset in starts.items():
        if offset:
            consumer.seek(tp, offset)
    from_start = [tp for tp, offset in starts.items() if not offset]
    if from_start:
        await consumer.seek_to_beginning(*from_start)
    records = 0
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=fetch_max_wait_ms * 4)
        for tp, messages in batch.items():
            for message in messages:
                if message.key is not None:
                    apply(tp, message.key, message.value)
            records += len(messages)
        for tp in list(remaining):
            end = consumer.last_stable_offset(tp) if committed_only else consumer.highwater(tp)
            if end is not None and end >= 0 and await consumer.position(tp) >= end:
                remaining.discard(tp)
        await asyncio.sleep(0)
    return records
