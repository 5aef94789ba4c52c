"""`upsell lag`: how far the engine's consumer group is behind, per partition of
the events topic, as the broker sees it (so it works with no worker running)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.cli.offsets import high_watermarks, topic_partitions
from streams.cli.ops_errors import TopicMissing


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None  # None: the group has committed nothing here
    high_watermark: int
    lag: int


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    state: str | None  # the group's state as the broker names it (Stable, Empty, ...)
    members: int | None
    partitions: list[PartitionLag]

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    def to_json(self, max_lag: int | None) -> bytes:
        return orjson.dumps({**asdict(self), "total_lag": self.total, "max_lag": max_lag,
                             "over_max_lag": max_lag is not None and self.total > max_lag})


async def measure_lag(
    bootstrap_servers: str, client_options: dict[str, Any], group: str, topic: str,
) -> GroupLag:
    """Committed offsets by OffsetFetch through a consumer of the group that joins
    nothing (assigned partitions, no subscription, no auto-commit): the admin
    client's list_consumer_group_offsets fails on the embedded broker. With nothing
    committed on a partition the engine starts it from the beginning, so its lag is
    counted from there."""
    partitions = await topic_partitions(bootstrap_servers, client_options, topic)
    if partitions is None:
        raise TopicMissing(f"topic {topic} does not exist (`upsell topics check`)")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False,
        fetch_max_wait_ms=100, max_partition_fetch_bytes=64 * 1024, **client_options,
    )
    await consumer.start()
    try:
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        starts = await consumer.beginning_offsets(partitions)
        ends = await high_watermarks(consumer, partitions)
    finally:
        await consumer.stop()
    rows = []
    for tp in partitions:
        done = committed[tp]
        rows.append(PartitionLag(tp.partition, done, ends[tp],
                                 max(0, ends[tp] - (starts[tp] if done is None else done))))
    state, members = await _describe_group(bootstrap_servers, client_options, group)
    return GroupLag(group, topic, state, members, rows)


async def _describe_group(
    bootstrap_servers: str, client_options: dict[str, Any], group: str
) -> tuple[str | None, int | None]:
    """The group's state and member count: context for the numbers, so a failure
    to get it is not one of lag."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    try:
        await admin.start()
        response = (await admin.describe_consumer_groups([group]))[0]
        _error, _group, state, _type, _protocol, members, *_ = response.groups[0]
        return state, len(members)
    except (KafkaError, IndexError, ValueError):
        return None, None
    finally:
        await admin.close()


def render(lag: GroupLag) -> str:
    """A table for people: one row per partition, then the total."""
    if lag.state is None:
        who = "state unknown"
    elif lag.state == "Dead":
        who = "Dead: the broker knows no such group"
    else:
        who = f"{lag.state}, {lag.members} member{'' if lag.members == 1 else 's'}"
    lines = [f"group {lag.group} on {lag.topic} ({who})",
             f"{'partition':>9}  {'committed':>12}  {'high watermark':>14}  {'lag':>10}"]
    for row in lag.partitions:
        committed = "-" if row.committed is None else str(row.committed)
        lines.append(f"{row.partition:>9}  {committed:>12}  {row.high_watermark:>14}  {row.lag:>10}")
    lines.append(f"total lag: {lag.total}")
    if any(row.committed is None for row in lag.partitions):
        lines.append("-: nothing committed by the group: lag counted from the partition's start")
    return "\n".join(lines)
