"""Create the engine's topics when they are missing."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

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


async def ensure_topics(
    bootstrap_servers: str, topics: TopicSettings, client_options: dict[str, Any]
) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left
    as they are (their partition count is checked by the engine at assignment)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topic_specs(topics) if spec.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(missing)
            log.info("created topics %s", ", ".join(spec.name for spec in missing))
        return [spec.name for spec in missing]
    finally:
        await admin.close()
