"""`upsell lag` against a real broker: the group's committed offsets against the
true end of each partition (not ListOffsets, which the embedded broker answers
with the base offset of the last batch)."""

from __future__ import annotations

import re
from collections import Counter

import orjson
from aiokafka import AIOKafkaConsumer

from streams.runtime.routing import home_partition
from streams.runtime.topics import ensure_topics
from tests.streams.cli_runs import decide, upsell
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    EXAMPLE_EVENTS,
    account_key,
    send_lines,
    settings_for,
)

GOOD = [line for line in EXAMPLE_EVENTS.read_bytes().splitlines() if account_key(line)]


def _per_partition(lines: list[bytes]) -> Counter[int]:
    keys = [account_key(line) for line in lines]
    return Counter(home_partition(key.decode(), 4) for key in keys if key is not None)


async def test_lag_shows_committed_high_watermark_and_lag_per_partition_and_exits_1_past_max(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix)
    await decide(settings, GOOD)
    # Stopped: its final checkpoint committed every event. These are not consumed.
    behind = GOOD[:120]
    await send_lines(kafka.bootstrap_servers, settings.topics.events, behind)
    done, waiting = _per_partition(GOOD), _per_partition(behind)

    measured = await upsell(settings, "lag", "--json")
    assert measured.returncode == 0, measured.stderr
    report = orjson.loads(measured.stdout)
    assert report["group"] == settings.group_id and report["topic"] == settings.topics.events
    assert report["partitions"] == [
        {"partition": p, "committed": done[p], "high_watermark": done[p] + waiting[p],
         "lag": waiting[p]} for p in range(4)]
    assert report["total_lag"] == len(behind)
    assert report["over_max_lag"] is False

    at_bound = await upsell(settings, "lag", "--max-lag", str(len(behind)))
    assert at_bound.returncode == 0, at_bound.stderr
    assert re.search(rf"^\s+0\s+{done[0]}\s+{done[0] + waiting[0]}\s+{waiting[0]}$",
                     at_bound.stdout, re.MULTILINE)
    assert f"total lag: {len(behind)}" in at_bound.stdout
    over = await upsell(settings, "lag", "--max-lag", str(len(behind) - 1))
    assert over.returncode == 1
    assert f"total lag {len(behind)} exceeds --max-lag {len(behind) - 1}" in over.stderr


async def test_lag_of_a_group_that_committed_nothing_counts_from_the_start(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix)
    await ensure_topics(kafka.bootstrap_servers, settings.topics, {})
    await send_lines(kafka.bootstrap_servers, settings.topics.events, GOOD)
    measured = await upsell(settings, "lag")
    assert measured.returncode == 0, measured.stderr
    assert f"total lag: {len(GOOD)}" in measured.stdout
    assert "-: nothing committed by the group" in measured.stdout


async def test_lag_of_a_missing_topic_exits_2_and_creates_nothing(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix)
    measured = await upsell(settings, "lag")
    assert measured.returncode == 2
    assert f"topic {settings.topics.events} does not exist" in measured.stderr
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        assert settings.topics.events not in await consumer.topics()
    finally:
        await consumer.stop()
