"""`upsell topics check|create`: the layout the engine needs, and the exact
repair for what is not (the judging is pure and tested directly; the commands
on a real broker)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.cli.topics import ROLES, Repair, TopicReport, judge
from streams.runtime.settings import TopicSettings
from streams.runtime.topics import topic_specs
from tests.streams.cli_runs import env_for, upsell
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import settings_for

TOPICS = TopicSettings()  # 8 partitions
BROKER = "kafka:9092"
COMPACT = {"cleanup.policy": "compact"}
DELETE = {"cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)}
CREATED = {spec.name: spec.topic_configs for spec in topic_specs(TOPICS)}  # what the engine sets


def _reports(partitions: dict[str, int | None], **configs: dict[str, str]) -> list[TopicReport]:
    """One report per role: its partition count (None: missing) and configs."""
    return [TopicReport(role, getattr(TOPICS, role), partitions.get(role, 8),
                        1 if partitions.get(role, 8) is not None else None,
                        configs.get(role, COMPACT if role == "changelog" else {
                            **DELETE, **CREATED.get(getattr(TOPICS, role), {})}))
            for role in ROLES]


def test_topics_as_the_engine_creates_them_have_no_problem() -> None:
    check = judge(_reports({}), TOPICS, BROKER)
    assert check.problems == [] and check.notes == []


def test_an_events_topic_auto_created_small_is_grown_to_the_settings_count() -> None:
    check = judge(_reports({"events": 4}), TOPICS, BROKER)
    (problem,) = check.problems
    assert problem.topics == ["usage-events"]
    assert problem.text == ("partitions: usage-events 4; the settings say 8 "
                            "(the engine refuses to start)")
    grow, never_again = problem.repairs
    assert grow == Repair(
        "give it 8 partitions (the events already on the events topic stay where they are: "
        "the engine forwards each to its account's partition)",
        ("kafka-topics.sh --bootstrap-server kafka:9092 --alter --topic usage-events "
         "--partitions 8",))
    # The changelog has 8: keeping 4 is no option (the state is laid out by 8).
    assert "auto.create.topics.enable" in never_again.how and never_again.commands == ()


def test_an_events_topic_alone_offers_both_counts_before_the_others_exist() -> None:
    check = judge(_reports({"events": 4, "offers": None, "outcomes": None, "dlq": None,
                            "changelog": None}), TOPICS, BROKER)
    partitions, missing = check.problems
    assert partitions.repairs[1] == Repair(
        "or keep 4: set UPSELL_TOPIC_PARTITIONS=4 (or --partitions 4)")
    assert missing.topics == ["upsell-offers", "upsell-outcomes", "usage-events-dlq",
                              "upsell-state-changelog"]
    assert missing.repairs[0].commands == ("upsell topics create",)


def test_a_topic_with_more_partitions_is_recreated_and_the_changelog_count_can_be_kept() -> None:
    check = judge(_reports({"dlq": 12, "changelog": 4, "events": 4, "offers": 4, "outcomes": 4}),
                  TOPICS, BROKER)
    (problem,) = check.problems
    grow, keep, _ = problem.repairs
    assert grow.how == ("give them 8 partitions, only while no worker has run with these "
                        "topics (the changelog's state is laid out by its count)")
    kafka_topics = "kafka-topics.sh --bootstrap-server kafka:9092"
    assert grow.commands == (
        f"{kafka_topics} --alter --topic usage-events --partitions 8",
        f"{kafka_topics} --alter --topic upsell-offers --partitions 8",
        f"{kafka_topics} --alter --topic upsell-outcomes --partitions 8",
        f"{kafka_topics} --delete --topic usage-events-dlq",
        f"{kafka_topics} --alter --topic upsell-state-changelog --partitions 8",
        "upsell topics create")
    assert keep == Repair("or keep 4: set UPSELL_TOPIC_PARTITIONS=4 (or --partitions 4) and "
                          "give usage-events-dlq 4 partitions",
                          (f"{kafka_topics} --delete --topic usage-events-dlq",
                           "upsell topics create"))


def test_topics_that_agree_on_another_count_need_only_the_setting() -> None:
    check = judge(_reports({role: 16 for role in ROLES}), TOPICS, BROKER)
    (problem,) = check.problems
    assert "(the engine refuses to start)" not in problem.text
    assert problem.repairs[1] == Repair(
        "or keep 16: set UPSELL_TOPIC_PARTITIONS=16 (or --partitions 16)")


@pytest.mark.parametrize(("role", "configs", "wrong", "repair"), [
    ("changelog", {"cleanup.policy": "delete"}, "cleanup.policy delete: state older",
     "--entity-name upsell-state-changelog --add-config cleanup.policy=compact"),
    ("changelog", {}, "cleanup.policy not set (the broker's default: delete on Apache Kafka)",
     "cleanup.policy=compact"),
    ("events", {"cleanup.policy": "compact"}, "compaction keeps only the last record",
     "--entity-name usage-events --add-config cleanup.policy=delete"),
    ("dlq", {"retention.ms": str(86_400_000)}, "retention.ms 86400000 (1 days), less than 7",
     "--add-config retention.ms=604800000"),
])
def test_configs_that_lose_records_are_problems_with_the_command_that_repairs_them(
    role: str, configs: dict[str, str], wrong: str, repair: str
) -> None:
    (problem,) = judge(_reports({}, **{role: configs}), TOPICS, BROKER).problems
    assert problem.topics == [getattr(TOPICS, role)]
    assert wrong in problem.text
    ((step,),) = [r.commands for r in problem.repairs]
    assert step.startswith("kafka-configs.sh --bootstrap-server kafka:9092 --alter "
                           "--entity-type topics") and step.endswith(repair)


def test_infinite_retention_and_a_broker_default_are_fine() -> None:
    check = judge(_reports({}, events={"retention.ms": "-1"}, offers={}), TOPICS, BROKER)
    assert check.problems == []
    assert check.notes == ["upsell-offers: retention.ms is the broker's default"]


async def test_check_finds_an_auto_created_events_topic_and_create_repairs_only_what_is_missing(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    embedded = kafka.require_embedded("it creates a topic on first produce, as a broker "
                                      "with auto.create.topics.enable does")
    settings = settings_for(kafka, topic_prefix, partitions=8)
    producer = AIOKafkaProducer(bootstrap_servers=embedded.bootstrap_servers)
    await producer.start()
    try:  # a product app's plain producer, before any worker ran
        await producer.send_and_wait(settings.topics.events, orjson.dumps({"x": 1}), key=b"a")
        assert len(await producer.partitions_for(settings.topics.events)) == 4
    finally:
        await producer.stop()

    checked = await upsell(settings, "topics", "check")
    assert checked.returncode == 1
    assert f"WRONG  {settings.topics.events}" in checked.stdout
    assert f"--alter --topic {settings.topics.events} --partitions 8" in checked.stdout
    assert "repair: or keep 4: set UPSELL_TOPIC_PARTITIONS=4" in checked.stdout
    assert (f"{settings.topics.offers}, {settings.topics.outcomes}, {settings.topics.dlq}, "
            f"{settings.topics.changelog}: missing\n  repair: create them with the settings' "
            "layout:\n    upsell topics create") in checked.stdout

    created = await upsell(settings, "topics", "create")
    assert created.returncode == 1  # the events topic is still wrong: never changed silently
    assert created.stdout.startswith(
        f"created {settings.topics.offers}, {settings.topics.outcomes}, {settings.topics.dlq}, "
        f"{settings.topics.changelog}, {settings.topics.rules}, {settings.topics.rules_status}\n")
    assert "(the engine refuses to start)" in created.stdout
    assert re.search(rf"^ok\s+{settings.topics.changelog}\s+changelog\s+8 partitions, "
                     r"replication 1, cleanup.policy=compact$", created.stdout, re.MULTILINE)

    # The repair for a broker without CreatePartitions: recreate it, as the check says.
    admin = AIOKafkaAdminClient(bootstrap_servers=embedded.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([settings.topics.events])
    finally:
        await admin.close()
    created = await upsell(settings, "topics", "create")
    assert created.returncode == 0, created.stdout
    assert created.stdout.startswith(f"created {settings.topics.events}\n")
    assert created.stdout.rstrip().endswith("all topics OK")
    again = await upsell(settings, "topics", "create")
    assert again.returncode == 0
    assert again.stdout.startswith("created none: all exist\n")


async def test_the_printed_repairs_run_as_printed_on_apache_kafka(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    if kafka.embedded is not None:
        pytest.skip("needs Apache Kafka (UPSELL_TEST_KAFKA_BOOTSTRAP): the embedded broker "
                    "has no CreatePartitions and no kafka-*.sh tools")
    tools = Path(os.environ.get("KAFKA_HOME", "/opt/kafka/kafka_2.13-4.0.0")) / "bin"
    if not (tools / "kafka-topics.sh").exists():
        pytest.skip(f"needs Kafka's command-line tools in {tools} (set KAFKA_HOME)")
    settings = settings_for(kafka, topic_prefix, partitions=4)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:  # as a producer with auto-creation would leave it, with a short retention too
        await admin.create_topics([NewTopic(settings.topics.events, 1, 1,
                                            topic_configs={"retention.ms": "3600000"})])
    finally:
        await admin.close()
    created = await upsell(settings, "topics", "create")
    assert created.returncode == 1
    commands = [line.strip() for line in created.stdout.splitlines() if line.startswith("    ")]
    assert [c.split()[0] for c in commands] == ["kafka-topics.sh", "kafka-configs.sh"]
    env = {**env_for(settings), "PATH": f"{tools}:{os.environ['PATH']}"}
    for command in commands:
        done = await asyncio.to_thread(subprocess.run, command, shell=True, env=env,
                                       capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    checked = await upsell(settings, "topics", "check")
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.rstrip().endswith("all topics OK")
