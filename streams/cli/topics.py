"""`upsell topics check|create`: are the engine's topics laid out as it needs
them, and if not, what exactly to do about it.

The engine needs five topics with one partition count (an account's events,
state, offers and dead letters share a partition number), a compacted
changelog, and retention long enough that nothing is deleted before it is
read. The check reads the layout and the configs from the broker and says, per
problem, the command that repairs it; `create` makes the missing topics (as
`upsell worker` does) and never touches an existing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streams.cli.offsets import topic_layouts
from streams.runtime.settings import TopicSettings

DAY_MS = 86_400_000
# Shortest retention that keeps records until someone reads them: the events
# topic must outlast a worker outage over a weekend (3 days), dead letters must
# outlast the time to notice them, fix the cause and redrive them (7 days,
# Apache Kafka's default), offers the time in-app messaging may be down, outcomes
# the span a report looks back over (a conversion window plus post-upsell churn:
# 120 days; the engine creates the topic with OUTCOMES_RETENTION_MS).
MIN_RETENTION_MS = {"events": 3 * DAY_MS, "offers": 3 * DAY_MS, "dlq": 7 * DAY_MS,
                    "outcomes": 120 * DAY_MS}
ROLES = ("events", "offers", "outcomes", "dlq", "changelog")


@dataclass
class TopicReport:
    """One topic as the broker describes it."""

    role: str  # events, offers, outcomes, dlq or changelog
    name: str
    partitions: int | None  # None: the topic does not exist
    replicas: int | None = None  # the fewest replicas of any partition
    configs: dict[str, str] | None = None  # None: the broker did not describe them


@dataclass(frozen=True)
class Repair:
    """One way to repair a problem: what it does, and the commands, each runnable
    as printed."""

    how: str
    commands: tuple[str, ...] = ()


@dataclass
class Problem:
    """Something wrong, the topics it is about, and the ways to repair it."""

    topics: list[str]
    text: str
    repairs: list[Repair] = field(default_factory=list)


@dataclass
class TopicCheck:
    reports: list[TopicReport]
    problems: list[Problem]
    notes: list[str]


async def check_topics(
    bootstrap_servers: str, client_options: dict[str, Any], topics: TopicSettings
) -> TopicCheck:
    """Read each engine topic's layout and configs, then judge them."""
    layouts = await topic_layouts(bootstrap_servers, client_options)
    names = {role: getattr(topics, role) for role in ROLES}
    configs = await _describe_configs(
        bootstrap_servers, client_options, [name for name in names.values() if name in layouts]
    )
    reports = []
    for role, name in names.items():
        layout = layouts.get(name)
        if layout is None:
            reports.append(TopicReport(role, name, None))
        else:
            reports.append(TopicReport(role, name, len(layout),
                                       min((len(p["replicas"]) for p in layout), default=0),
                                       configs.get(name)))
    return judge(reports, topics, bootstrap_servers)


async def _describe_configs(
    bootstrap_servers: str, client_options: dict[str, Any], names: list[str]
) -> dict[str, dict[str, str]]:
    """name -> config name -> value, for the topics the broker described. Apache
    Kafka lists every config, defaults included; the embedded broker only those
    set at creation, so an absent config means "the broker's default"."""
    if not names:
        return {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    except KafkaError:
        return {}
    finally:
        await admin.close()
    described = {}
    for response in responses:
        for error_code, _message, _type, name, entries, *_ in response.resources:
            if error_code == 0:
                described[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    return described


def judge(reports: list[TopicReport], topics: TopicSettings, bootstrap: str) -> TopicCheck:
    """What is wrong with these topics, and how to repair it (pure: tested directly)."""
    check = TopicCheck(reports, [], [])
    missing = [r.name for r in reports if r.partitions is None]
    existing = [r for r in reports if r.partitions is not None]
    _judge_partitions(check, existing, topics.partitions, bootstrap)
    if missing:
        check.problems.append(Problem(missing, "missing", [
            Repair("create them with the settings' layout", ("upsell topics create",))]))
    for report in existing:
        if report.replicas is not None and report.replicas < topics.replication_factor:
            check.problems.append(Problem(
                [report.name],
                f"replication factor {report.replicas}, the settings say "
                f"{topics.replication_factor}",
                [Repair("raise it with kafka-reassign-partitions.sh (Kafka's 'increasing "
                        "replication factor' steps)")]))
        if report.configs is None:
            check.notes.append(f"{report.name}: the broker did not describe its configs")
        else:
            _judge_configs(check, report, report.configs, bootstrap)
    return check


def _judge_partitions(
    check: TopicCheck, existing: list[TopicReport], wanted: int, bootstrap: str
) -> None:
    """One partition count for all five topics, the settings' one. Two ways out:
    give the odd topics the settings' count, or keep the count the state is laid
    out by (the changelog's: an account's partition is its key's hash modulo the
    count, so changing it loses the state) and set the settings to it."""
    counts = {r.partitions for r in existing}
    if counts <= {wanted}:
        return
    wrong = [r for r in existing if r.partitions != wanted]
    problem = Problem([r.name for r in wrong],
                      "partitions: " + ", ".join(f"{r.name} {r.partitions}" for r in wrong)
                      + f"; the settings say {wanted}"
                      + ("" if len(counts) == 1 else " (the engine refuses to start)"))
    check.problems.append(problem)
    changelog = next((r for r in existing if r.role == "changelog"), None)
    how = f"give {'it' if len(wrong) == 1 else 'them'} {wanted} partitions"
    if changelog in wrong:
        how += (", only while no worker has run with these topics (the changelog's state "
                "is laid out by its count)")
    elif any(r.role == "events" and r.partitions < wanted for r in wrong if r.partitions):
        how += (" (the events already on the events topic stay where they are: the engine "
                "forwards each to its account's partition)")
    problem.repairs.append(Repair(how, _align(wrong, wanted, bootstrap)))
    keep = changelog.partitions if changelog is not None else None
    if keep is None and len(counts) == 1:
        (keep,) = counts
    if keep is not None and keep != wanted:
        others = [r for r in existing if r.partitions != keep]
        problem.repairs.append(Repair(
            f"or keep {keep}: set UPSELL_TOPIC_PARTITIONS={keep} (or --partitions {keep})"
            + (f" and give {', '.join(r.name for r in others)} {keep} partitions" if others
               else ""),
            _align(others, keep, bootstrap)))
    problem.repairs.append(Repair(
        "so that it cannot happen again: create the topics before any producer sends "
        "(`upsell topics create`), and turn off auto.create.topics.enable on the brokers"))


def _align(reports: list[TopicReport], count: int, bootstrap: str) -> tuple[str, ...]:
    """The commands that give these topics `count` partitions: Kafka can add
    partitions to a topic, not remove them, so a larger topic is deleted (its
    records are lost: save dead letters with `upsell dlq` first) and created again."""
    kafka_topics = f"kafka-topics.sh --bootstrap-server {bootstrap}"
    commands, recreate = [], False
    for report in reports:
        assert report.partitions is not None
        if report.partitions < count:
            commands.append(f"{kafka_topics} --alter --topic {report.name} --partitions {count}")
        else:
            commands.append(f"{kafka_topics} --delete --topic {report.name}")
            recreate = True
    if recreate:
        commands.append("upsell topics create")
    return tuple(commands)


def _judge_configs(
    check: TopicCheck, report: TopicReport, configs: Mapping[str, str], bootstrap: str
) -> None:
    alter = (f"kafka-configs.sh --bootstrap-server {bootstrap} --alter --entity-type topics "
             f"--entity-name {report.name} --add-config")
    policy = configs.get("cleanup.policy")
    if report.role == "changelog":
        if policy != "compact":
            said = "not set (the broker's default: delete on Apache Kafka)" if policy is None \
                else policy
            check.problems.append(Problem(
                [report.name], f"cleanup.policy {said}: state older than the retention would "
                "be deleted, and lost at the next restore",
                [Repair("compact it", (f"{alter} cleanup.policy=compact",))]))
        return
    if policy is not None and "compact" in policy.split(","):
        check.problems.append(Problem(
            [report.name], f"cleanup.policy {policy}: compaction keeps only the last record "
            "of each account", [Repair("delete by age", (f"{alter} cleanup.policy=delete",))]))
    retention = configs.get("retention.ms")
    if retention is None:
        check.notes.append(f"{report.name}: retention.ms is the broker's default")
        return
    shortest = MIN_RETENTION_MS[report.role]
    if retention != "-1" and int(retention) < shortest:
        check.problems.append(Problem(
            [report.name], f"retention.ms {retention} ({int(retention) / DAY_MS:.2g} days), "
            f"less than {shortest // DAY_MS} days",
            [Repair(f"keep {shortest // DAY_MS} days", (f"{alter} retention.ms={shortest}",))]))


def render(check: TopicCheck, topics: TopicSettings) -> str:
    """One line per topic, then each problem with its repair."""
    lines = [f"settings: {topics.partitions} partitions, replication factor "
             f"{topics.replication_factor}"]
    wrong = {name for problem in check.problems for name in problem.topics}
    width = max(len(r.name) for r in check.reports)
    for r in check.reports:
        if r.partitions is None:
            found = "missing"
        else:
            configs = r.configs or {}
            shown = [f"{k}={configs[k]}" for k in ("cleanup.policy", "retention.ms") if k in configs]
            found = ", ".join([_partitions(r.partitions), f"replication {r.replicas}", *shown])
        lines.append(f"{'WRONG' if r.name in wrong else 'ok':<5}  {r.name:<{width}}  "
                     f"{r.role:<9}  {found}")
    for problem in check.problems:
        lines += ["", f"{', '.join(problem.topics)}: {problem.text}"]
        for repair in problem.repairs:
            lines.append(f"  repair: {repair.how}" + (":" if repair.commands else ""))
            lines += [f"    {command}" for command in repair.commands]
    if check.notes:
        lines.append("")
        lines += [f"note: {note}" for note in check.notes]
    count = len(check.problems)
    lines += ["", f"{count} problem{'' if count == 1 else 's'}" if count else "all topics OK"]
    return "\n".join(lines)


def _partitions(count: int) -> str:
    return f"{count} partition{'' if count == 1 else 's'}"
