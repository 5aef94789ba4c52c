"""Create the engine's topics when they are missing."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.runtime.errors import TopicLayoutError
from streams.runtime.settings import TopicSettings

log = logging.getLogger(__name__)

OUTCOMES_RETENTION_MS = 400 * 86_400_000  # a year of outcomes, and a renewal cycle's margin


def topic_specs(topics: TopicSettings) -> list[NewTopic]:
    """Events, offers and the changelog are co-partitioned (same count) so an
    account's events, state and offers share a partition number. The changelog
    is compacted: only each account's latest state is needed to restore; so are
    the rules topics (one record per rules version, one per worker)."""
    count, replicas = topics.partitions, topics.replication_factor
    return [
        NewTopic(topics.events, count, replicas),
        NewTopic(topics.offers, count, replicas),
        # Kept for the report's look back (conversions, then post-upsell churn), not
        # the broker's default week.
        NewTopic(topics.outcomes, count, replicas,
                 topic_configs={"retention.ms": str(OUTCOMES_RETENTION_MS)}),
        NewTopic(topics.dlq, count, replicas),
        NewTopic(topics.changelog, count, replicas,
                 topic_configs={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}),
        # Control topics, not co-partitioned: the rules versions and the workers' reports.
        NewTopic(topics.rules, 1, replicas, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(topics.rules_status, 1, replicas, topic_configs={"cleanup.policy": "compact"}),
    ]


def copartitioned(topics: TopicSettings) -> list[str]:
    """The topics that must share one partition count: an account's events, offers,
    outcomes, dead letters and state share a partition number."""
    return [topics.events, topics.offers, topics.outcomes, topics.dlq, topics.changelog]


def layout_problem(topics: TopicSettings, counts: dict[str, int]) -> str | None:
    """Why the co-partitioned topics, once the missing ones are created with the
    configured count, would not share one partition count; None if they would.
    `counts`: the partition count of each topic that exists."""
    names = copartitioned(topics)
    after = {name: counts.get(name, topics.partitions) for name in names}
    if len(set(after.values())) == 1:
        return None
    found = ", ".join(f"{name}: {counts[name]}" if name in counts else f"{name}: missing"
                      for name in names)
    existing = [name for name in names if name in counts]
    (kept, *others) = {counts[name] for name in existing}
    repair = (
        "recreate them with one partition count" if others else
        f"set UPSELL_TOPIC_PARTITIONS={kept} to keep the existing count, or delete "
        f"{', '.join(existing)} and let a worker create the topics with {topics.partitions}"
    )
    return (
        f"the topics would not share one partition count ({found}; a missing one is created "
        f"with {topics.partitions}), which the engine refuses; nothing was created. (A broker "
        "with auto.create.topics.enable creates a topic a client sends to before it exists, "
        f"with a count of its own.) To repair: {repair}"
    )


async def partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    """Each topic's partition count. From a metadata request for all topics: one that
    names a topic lets a broker with auto.create.topics.enable create it."""
    return {topic["topic"]: len(topic["partitions"]) for topic in await admin.describe_topics()}


async def ensure_topics(
    bootstrap_servers: str, topics: TopicSettings, client_options: dict[str, Any]
) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as
    they are; TopicLayoutError, and nothing created, if the topics would then not
    share one partition count (the engine refuses that at start). For whatever
    creates the topics on its way to something else: worker, produce, ingest, demo."""
    return await _create_missing(bootstrap_servers, topics, client_options, check_layout=True)


async def create_missing_topics(
    bootstrap_servers: str, topics: TopicSettings, client_options: dict[str, Any]
) -> list[str]:
    """Create missing topics with the settings' layout, whatever the existing ones
    are: for `upsell topics create`, which reports a problem with those itself."""
    return await _create_missing(bootstrap_servers, topics, client_options, check_layout=False)


async def _create_missing(bootstrap_servers: str, topics: TopicSettings,
                          client_options: dict[str, Any], check_layout: bool) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        counts = await partition_counts(admin)
        problem = layout_problem(topics, counts) if check_layout else None
        if problem is not None:
            raise TopicLayoutError(problem)
        missing = [spec for spec in topic_specs(topics) if spec.name not in counts]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(missing)
            log.info("created topics %s", ", ".join(spec.name for spec in missing))
        return [spec.name for spec in missing]
    finally:
        await admin.close()
