"""Per-partition account state, backed by a compacted changelog topic.

Each partition of the events topic has one `PartitionState`: the accounts that
live there, the source offset each account last applied, and which accounts
changed since the last checkpoint. At a checkpoint each changed account is
written once to the changelog partition with the same number; on assignment the
partition is rebuilt by reading that changelog partition to its end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from triggers import AccountState
from triggers.state import encode_state

log = logging.getLogger(__name__)


class PartitionState:
    """The accounts of one partition."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.accounts: dict[str, AccountState] = {}
        # Source offset of the last event applied to each account: a record
        # replayed after a crash (offsets not yet committed, state already in
        # the changelog) is recognised and skipped, exactly.
        self.applied: dict[str, int] = {}
        self.dirty: set[str] = set()

    def load(self, key: bytes, value: bytes | None) -> None:
        """Apply one changelog record (the last one per key wins)."""
        account_id = key.decode()
        if value is None:
            self.accounts.pop(account_id, None)
            self.applied.pop(account_id, None)
            return
        record = orjson.loads(value)
        self.accounts[account_id] = AccountState.from_dict(record["state"])
        self.applied[account_id] = record["offset"]

    def drain_changes(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) changelog records for the accounts changed since the last call."""
        dirty, self.dirty = self.dirty, set()
        accounts, applied = self.accounts, self.applied
        for account_id in dirty:
            # Spliced rather than nested in a dict: the state is serialised once.
            yield account_id.encode(), b'{"offset":%d,"state":%b}' % (
                applied[account_id], encode_state(accounts[account_id])
            )


async def restore(
    changelog: str,
    partitions: Iterable[int],
    client_options: dict[str, Any],
    bootstrap_servers: str,
    fetch_max_wait_ms: int = 50,
    committed_only: bool = False,
) -> dict[int, PartitionState]:
    """Rebuild the state of these partitions from the changelog.

    Reads each changelog partition up to the high watermark reported with the
    fetched data: ListOffsets (`end_offsets`) is not reliable on every
    Kafka-compatible broker, the watermark in fetch responses is. With
    transactions (`committed_only`), state of an aborted checkpoint must not
    come back: it reads committed records only, up to the last stable offset.
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
        remaining = {TopicPartition(changelog, partition) for partition in states}
        consumer.assign(list(remaining))
        await consumer.seek_to_beginning(*remaining)
        records = 0
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=fetch_max_wait_ms * 4)
            for tp, messages in batch.items():
                state = states[tp.partition]
                for message in messages:
                    if message.key is not None:
                        state.load(message.key, message.value)
                records += len(messages)
            for tp in list(remaining):
                end = consumer.last_stable_offset(tp) if committed_only else consumer.highwater(tp)
                if end is not None and end >= 0 and await consumer.position(tp) >= end:
                    remaining.discard(tp)
            await asyncio.sleep(0)
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
