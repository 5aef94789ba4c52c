"""`upsell rules apply` and `upsell rules show`: live rules from the command line.

`apply` validates a rules file as `upsell rules check` does and publishes it to
the rules topic, where every worker picks it up between two batches; a file
with errors is refused with all of them and nothing is published. `show`
prints the topic's latest good version and the version each worker reports
running (streams/runtime/rules_status.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas.rules import RulesFile
from schemas.rules_file import load_rules
from streams.runtime.rules_feed import TopicRead, publish_rules, read_rules_topic, read_to_end
from streams.runtime.rules_status import REPORT_EVERY_S, WorkerReport
from streams.runtime.settings import TopicSettings
from triggers import RuleBook

STALE_AFTER_S = 3 * REPORT_EVERY_S


async def apply_rules(path: Path, bootstrap_servers: str, topics: TopicSettings,
                      client_options: dict[str, Any]) -> list[str]:
    """Publish the file as the latest rules version; the lines to print."""
    loaded = load_rules(path)
    RuleBook.compile(loaded)  # what every worker will do with it
    before = await read_rules_topic(bootstrap_servers, topics, client_options)
    offset = await publish_rules(bootstrap_servers, topics, client_options, loaded)
    lines = [f"published rules {loaded.version} to {topics.rules} (offset {offset}); "
             "every worker switches to it between two batches (`upsell rules show`)"]
    if before.latest is not None:
        previous = before.latest.book
        lines.append(f"  replaces {previous.version} (offset {before.latest.offset})")
        lines.extend(f"  {line}" for line in trigger_changes(previous.rules, loaded.rules))
    return lines


def trigger_changes(old: RulesFile, new: RulesFile) -> list[str]:
    """Triggers added, removed and changed, by id: what a switch does to their state."""
    before = {t.id: t.model_dump() for t in old.triggers}
    after = {t.id: t.model_dump() for t in new.triggers}
    added = [t for t in after if t not in before]
    removed = [t for t in before if t not in after]
    changed = [t for t in after if t in before and after[t] != before[t]]
    lines = []
    if added:
        lines.append(f"triggers added: {', '.join(added)} (they start with no history)")
    if removed:
        lines.append(f"triggers removed: {', '.join(removed)} (accounts keep what they "
                     "remember of them, should they come back)")
    if changed:
        lines.append(f"triggers changed: {', '.join(changed)} (same id: each account keeps "
                     "its cooldown, fired levels and fired windows; due times are recomputed)")
    for trigger_id in changed:
        old_levels, new_levels = before[trigger_id].get("levels"), after[trigger_id].get("levels")
        if old_levels is not None and old_levels != new_levels:
            lines.append(f"  {trigger_id}: levels {_levels(old_levels)} -> {_levels(new_levels)}: "
                         "a fired level is kept by its position in the list; give the "
                         "trigger a new id to start it afresh")
    if old.guards != new.guards:
        lines.append("guards changed: they apply to every account from the switch on")
    return lines


def _levels(levels: list[float] | None) -> str:
    return "none" if levels is None else f"[{', '.join(f'{level:g}' for level in levels)}]"


async def rules_overview(bootstrap_servers: str, topics: TopicSettings,
                         client_options: dict[str, Any]) -> dict[str, Any]:
    """The topic's latest good version and every worker's report, as data."""
    read = await read_rules_topic(bootstrap_servers, topics, client_options)
    records, _ = await read_to_end(bootstrap_servers, topics.rules_status, client_options)
    reports: dict[str, WorkerReport | None] = {}
    for record in records:
        worker = record.key.decode(errors="replace") if record.key is not None else "?"
        reports[worker] = (WorkerReport.decode(record.key, record.value)
                           if record.value is not None else None)  # a tombstone: it stopped
    now = datetime.now(UTC)
    return {
        "topic": topics.rules,
        "version": _version(read),
        "refused_records": read.refused,
        "workers": [_worker(report, now) for report in reports.values() if report is not None],
    }


def _version(read: TopicRead) -> dict[str, Any] | None:
    latest = read.latest
    if latest is None:
        return None
    return {"version": latest.book.version, "offset": latest.offset,
            "applied_at": latest.applied_at}


def _worker(report: WorkerReport, now: datetime) -> dict[str, Any]:
    seen = _parse(report.seen_at)
    ago = (now - seen).total_seconds() if seen is not None else None
    return {
        "worker": report.worker, "group": report.group, "rules_version": report.rules_version,
        "source": report.source, "since": report.since, "seen_at": report.seen_at,
        "seen_seconds_ago": round(ago) if ago is not None else None,
        "stale": ago is None or ago > STALE_AFTER_S, "problem": report.problem,
    }


def _parse(moment: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(moment) if moment else None
    except ValueError:
        return None


def render_overview(overview: dict[str, Any]) -> str:
    version = overview["version"]
    lines = [f"rules topic {overview['topic']}: " + (
        f"{version['version']} (offset {version['offset']}, applied {version['applied_at']})"
        if version is not None else "no version (workers run their rules file)")]
    refused = overview["refused_records"]
    if refused:
        lines.append(f"  {len(refused)} record{'s' if len(refused) > 1 else ''} refused; the last: "
                     f"{refused[-1].splitlines()[0]}")
    workers = overview["workers"]
    lines.append(f"workers: {len(workers)}")
    topic_version = version["version"] if version is not None else None
    for worker in sorted(workers, key=lambda w: w["worker"]):
        if worker["problem"]:
            lines.append(f"  {worker['worker']}: unreadable record ({worker['problem']})")
            continue
        notes = []
        if topic_version is not None and worker["rules_version"] != topic_version:
            notes.append("differs from the topic")
        if worker["stale"]:
            notes.append(f"stale: not seen for {worker['seen_seconds_ago']} s, stopped "
                         "without a clean exit?")
        lines.append(
            f"  {worker['worker']} ({worker['group']}): {worker['rules_version']} from "
            f"{worker['source']}, since {worker['since']}"
            + (f"  [{'; '.join(notes)}]" if notes else ""))
    return "\n".join(lines)


def overview_json(overview: dict[str, Any]) -> str:
    return orjson.dumps(overview, option=orjson.OPT_INDENT_2).decode()
