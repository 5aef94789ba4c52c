"""`upsell dlq` and `upsell tail` on the dead-letter topic, against a real broker:
reasons and source offsets that find the original record, values only when
asked, and a redrive that gets an event decided once its cause is fixed."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka.structs import ConsumerRecord

from streams.cli.dlq import DeadLetter, Selection, parse_position, why_not_redriven
from streams.cli.tail import describe_record
from streams.runtime.routing import DLQ_REASON, DLQ_SOURCE_OFFSET, DLQ_SOURCE_PARTITION
from streams.runtime.settings import EngineSettings
from tests.factories import ROOT
from tests.streams.cli_runs import UPSELL, decide, env_for, upsell
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    EXAMPLE_EVENTS,
    read_topic,
    running_engine,
    send_lines,
    settings_for,
    wait_until,
)

LINES = EXAMPLE_EVENTS.read_bytes().splitlines()
BAD = 3  # the sample's lines the engine dead-letters (see test_engine_live.py)


def _record(headers: list[tuple[str, bytes]], value: bytes | None = b"{}") -> ConsumerRecord:
    return ConsumerRecord("dlq", 2, 14, 1_767_225_600_000, 0, b"acct-1", value, None, 0, 0,
                          headers)


def test_a_dead_letter_reads_its_headers_and_shows_no_value_unless_asked() -> None:
    letter = DeadLetter.from_record(_record(
        [(DLQ_REASON, b"usage.value: Input should be a valid number"),
         ("upsell.source.topic", b"usage-events"), (DLQ_SOURCE_PARTITION, b"2"),
         (DLQ_SOURCE_OFFSET, b"1207")], b'{"secret": "customer"}'))
    assert letter.describe() == (
        "2:14      2026-01-01 00:00:00  from usage-events 2:1207  key acct-1  (22 bytes)  "
        "usage.value: Input should be a valid number")
    assert "customer" not in orjson.dumps(letter.to_dict()).decode()
    assert letter.to_dict(show_value=True)["value"] == '{"secret": "customer"}'
    assert letter.describe(show_value=True).endswith('\n    {"secret": "customer"}')
    assert Selection(frozenset({(2, 14)}), "VALID NUMBER").matches(letter)
    assert not Selection(frozenset({(2, 15)})).matches(letter)
    assert not Selection(reason_contains="occurred_at").matches(letter)


def test_a_dead_letter_whose_value_was_not_kept_is_not_redriven_and_says_where_it_is() -> None:
    letter = DeadLetter.from_record(_record(
        [(DLQ_REASON, b"(event): Invalid JSON"), ("upsell.source.topic", b"usage-events"),
         (DLQ_SOURCE_PARTITION, b"2"), (DLQ_SOURCE_OFFSET, b"9"),
         ("upsell.value_omitted", b"1048000")], None))
    assert "(value not kept: 1048000 bytes)" in letter.describe()
    assert why_not_redriven(letter) == (
        "its value was not kept (1048000 bytes, too large); the original is at usage-events "
        "2:9 while that topic retains it")


def test_a_record_that_is_neither_an_offer_nor_a_dead_letter_is_named_not_dumped() -> None:
    record = _record([], b'{"event_id": "e1", "account_id": "acct-1"}')
    assert describe_record(record, pretty=True) == "dlq 2:14: not an offer (42 bytes)"
    assert orjson.loads(describe_record(record, pretty=False) or "") == {
        "topic": "dlq", "partition": 2, "offset": 14, "not_an_offer": True, "value_bytes": 42}


def test_a_position_is_partition_colon_offset() -> None:
    assert parse_position("3:1207") == (3, 1207)
    for wrong in ("3", "3:", "a:1", "3:-1", "1207"):
        try:
            parse_position(wrong)
        except ValueError as exc:
            assert "expected PARTITION:OFFSET" in str(exc)
        else:
            raise AssertionError(f"{wrong!r} was accepted")


async def test_dlq_lists_reasons_and_source_offsets_of_the_original_records_and_tail_reads_it(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix)
    await decide(settings, LINES)
    dead = await read_topic(kafka.bootstrap_servers, settings.topics.dlq, BAD, settle=0)
    events = await read_topic(kafka.bootstrap_servers, settings.topics.events, len(LINES), settle=0)
    originals = {(r.partition, r.offset): r.value for r in events}
    assert len(dead) == BAD

    listed = await upsell(settings, "dlq", "--json")
    assert listed.returncode == 0, listed.stderr
    letters = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(letter["reason"] for letter in letters) == sorted(
        dict(r.headers)[DLQ_REASON].decode() for r in dead)
    for letter in letters:
        assert "value" not in letter  # customer data, not shown by default
        source = letter["source"]
        assert source["topic"] == settings.topics.events
        assert letter["value_bytes"] == len(originals[source["partition"], source["offset"]])
    order = [(r.timestamp, r.partition, r.offset) for r in dead]
    assert [(d["timestamp_ms"], d["partition"], d["offset"]) for d in letters] == sorted(order)

    shown = await upsell(settings, "dlq", "--json", "--show-values", "--reason-contains",
                         "valid number")
    (letter,) = [orjson.loads(line) for line in shown.stdout.splitlines()]
    assert letter["reason"] == "usage.value: Input should be a valid number"
    source = letter["source"]
    assert letter["value"].encode() == originals[source["partition"], source["offset"]]

    first = await upsell(settings, "dlq", "--from-beginning", "--limit", "1", "--json")
    latest = await upsell(settings, "dlq", "--limit", "1", "--json")
    assert orjson.loads(first.stdout) == letters[0] and orjson.loads(latest.stdout) == letters[-1]

    text = await upsell(settings, "dlq")
    assert text.returncode == 0
    assert text.stderr == f"{BAD} dead letters shown from {settings.topics.dlq}\n"
    assert not any(value and value in text.stdout.encode() for value in originals.values())

    tailed, hint = await _tail(settings, BAD, "--topic", settings.topics.dlq, "--pretty",
                               "--from-beginning")
    assert sorted(tailed) == sorted(text.stdout.splitlines())
    assert f"{settings.topics.dlq} is the dead-letter topic: `upsell dlq`" in hint
    events_tailed, _ = await _tail(settings, 2, "--topic", settings.topics.events,
                                   "--from-beginning")
    assert all(orjson.loads(line)["not_an_offer"] for line in events_tailed)


async def _tail(settings: EngineSettings, lines: int, *args: str) -> tuple[list[str], str]:
    """The first `lines` lines `upsell tail ARGS` prints, and its stderr."""
    process = subprocess.Popen([*UPSELL, "tail", *args], env=env_for(settings), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        printed = [await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
                   for _ in range(lines)]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "Traceback" not in stderr
    return [line.rstrip("\n") for line in printed], stderr


async def test_a_redrive_after_the_fix_gets_the_event_decided_once(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    strict = settings_for(kafka, topic_prefix, max_future_skew_s=60)
    soon = datetime.now(UTC) + timedelta(hours=1)
    event = orjson.dumps({"event_id": "e-soon", "account_id": "acct-soon", "type": "usage",
                          "occurred_at": soon.isoformat(), "metric": "seats", "value": 7})
    async with running_engine(strict) as engine:
        await send_lines(kafka.bootstrap_servers, strict.topics.events, [event])
        await wait_until(lambda: engine.metrics.invalid == 1, 60, "the event dead-lettered")
    listed = await upsell(strict, "dlq", "--json")
    (letter,) = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert letter["reason"].startswith("occurred_at: more than 60 s after the record")
    position = f"{letter['partition']}:{letter['offset']}"

    dry = await upsell(strict, "dlq", "--redrive", "--all", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"would send {position} to {strict.topics.events} "
                                 "(key acct-soon, ")
    assert dry.stderr == f"would send 1 of 1 selected dead letters to {strict.topics.events}\n"
    assert len(await read_topic(kafka.bootstrap_servers, strict.topics.events, 1)) == 1

    fixed = strict.model_copy(update={"max_future_skew_s": 86_400})  # the fix: a wider bound
    async with running_engine(fixed) as engine:
        await engine.wait_until_ready(timeout=60)
        sent = await upsell(fixed, "dlq", "--redrive", "--offset", position)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith(f"sent {position} to {fixed.topics.events}")
        await wait_until(lambda: engine.metrics.events == 1, 60, "the redriven event decided")
    assert engine.metrics.invalid == 0
    events = await read_topic(kafka.bootstrap_servers, fixed.topics.events, 2, settle=0)
    assert [(r.key, r.value) for r in events] == [(b"acct-soon", event)] * 2
    assert dict(events[1].headers)["upsell.redriven_from"] == (
        f"{fixed.topics.dlq}/{letter['partition']}/{letter['offset']}".encode())

    explained = await upsell(fixed, "explain", "acct-soon", "--json")
    assert explained.returncode == 0, explained.stderr
    assert orjson.loads(explained.stdout)["state"]["gauges"]["seats"] == [7.0, soon.timestamp()]


async def test_a_redrive_needs_a_selection(kafka: KafkaUnderTest, topic_prefix: str) -> None:
    settings = settings_for(kafka, topic_prefix)
    for args, says in [(["--redrive"], "--redrive needs a selection"),
                       (["--redrive", "--all", "--offset", "1:2"], "--redrive needs a selection"),
                       (["--all"], "--all and --dry-run go with --redrive"),
                       (["--offset", "x"], "'x': expected PARTITION:OFFSET")]:
        refused = await upsell(settings, "dlq", *args)
        assert refused.returncode == 2
        assert says in refused.stderr
