"""The engine's topics: created when missing, never into a layout the engine refuses."""

from __future__ import annotations

import pytest

from streams.cli.offsets import topic_layouts
from streams.runtime.errors import TopicLayoutError
from streams.runtime.settings import TopicSettings
from streams.runtime.topics import copartitioned, ensure_topics, layout_problem, topic_specs
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import create_topic, settings_for

TOPICS = TopicSettings(events="e", offers="o", outcomes="u", dlq="d", changelog="c", partitions=8)


@pytest.mark.parametrize(
    "counts",
    [{}, {"e": 8}, {"e": 8, "o": 8, "u": 8, "d": 8, "c": 8}, {"e": 16, "o": 16, "u": 16, "d": 16, "c": 16},
     {"e": 8, "upsell-rules": 1, "upsell-rules-status": 1}],  # control topics have one partition
)
def test_topics_that_share_one_count_once_created_are_fine(counts: dict[str, int]) -> None:
    assert layout_problem(TOPICS, counts) is None


def test_an_events_topic_a_broker_made_with_its_own_count_is_named_with_the_repair() -> None:
    problem = layout_problem(TOPICS, {"e": 4, "unrelated": 1})
    assert problem is not None
    assert ("(e: 4, o: missing, u: missing, d: missing, c: missing; a missing one is created with 8)"
            in problem)
    assert problem.endswith("To repair: set UPSELL_TOPIC_PARTITIONS=4 to keep the existing count, "
                            "or delete e and let a worker create the topics with 8")


def test_existing_topics_that_disagree_must_be_recreated() -> None:
    problem = layout_problem(TOPICS, {"e": 8, "o": 8, "u": 8, "d": 8, "c": 3})
    assert problem is not None and problem.endswith("To repair: recreate them with one partition count")


async def topic_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    layouts = await topic_layouts(bootstrap, {})
    return {name: len(layouts[name]) for name in names if name in layouts}


async def test_ensure_topics_creates_nothing_next_to_a_topic_of_another_count(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    topics = settings_for(kafka, topic_prefix, partitions=2).topics
    await create_topic(kafka.bootstrap_servers, topics.events, 3)
    names = [spec.name for spec in topic_specs(topics)]
    with pytest.raises(TopicLayoutError, match=rf"\({topics.events}: 3, {topics.offers}: missing"):
        await ensure_topics(kafka.bootstrap_servers, topics, {})
    assert await topic_counts(kafka.bootstrap_servers, names) == {topics.events: 3}

    created = await ensure_topics(kafka.bootstrap_servers, topics.model_copy(update={"partitions": 3}), {})
    assert created == names[1:]
    assert await topic_counts(kafka.bootstrap_servers, names) == {
        **dict.fromkeys(copartitioned(topics), 3), topics.rules: 1, topics.rules_status: 1}

