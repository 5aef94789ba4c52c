"""Duplicate deliveries per SIGKILL of a worker, without transactions (not a test):
`make bench-kill`, or `python bench/bench_kill.py --kills 4 --engines old,new`.

Without transactions a worker killed with SIGKILL decides again, after its
restart, the events since its last completed checkpoint, and so makes again
the offers it had already sent. The engine since the fix records, at each
checkpoint, the end offset of each offers partition in the changelog and on
restore reads the offers past it, so that those offers are not sent twice.
This benchmark counts, per engine, how many offers still arrive twice.

One embedded broker (no transactions) for the whole run. Per engine and per
repetition: fresh topics and group; the Simulator's events (--accounts over
--days, keyed by account, on their home partitions) sent at --rate events/s
from when the first worker is up until they run out, whether a worker runs or
not (--rate 0: all sent before the worker starts, which then always has a
backlog and runs as fast as it can); `python -m streams.cli worker` as a child
process, SIGKILLed --kills times and restarted. A kill comes --kill-after
seconds (plus a random fraction of the checkpoint interval, so that kills fall
anywhere in the checkpoint cycle) after the restarted worker has caught up
with the backlog that built while it was down (at --rate 0: after it began
consuming again). Then, once the group has committed every event, the offers
topic is read whole.

The default size (10,000 accounts over 90 days, ~1.4M events, ~90 s at 15k/s)
is what four kills need on a loaded 2-core machine: a restart takes 12-15 s
on the embedded broker with the 6 s session timeout (the dead member's
session must expire, and the broker holds each join for about half of it),
then ~3 s to catch up. A kill that finds no events left is reported as such.

An engine is a source tree: `new` is this repository, `old` is --old-path (a
worktree of the code before the fix); the worker runs with that tree as its
working directory and first on PYTHONPATH, and the bench prints which
`streams/runtime/loop.py` a child of that environment imports. The expected
offers come from that tree's own offline replay (streams.cli.replay) of the
same events, so each engine is checked against its own decisions.

Reported per run: offers expected, delivered, missing and unexpected (both
must be 0), duplicate deliveries (extra copies of an offer id), per kill (by
the record's timestamp: a copy sent between kill i and kill i+1 is counted
against kill i; at --rate 0 a restarted worker killed before it got back to a
partition leaves that partition's copies to the next one, so only the totals
are exact there) and the share of offers delivered more than once. For every
duplicate it also says where it lies against the offers end recorded in the
changelog before that kill (the new engine's restore reads from there on).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python bench/bench_kill.py): import `bench` from the repo
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.harness import PRODUCE_BATCH_BYTES, GroupOffsets
from streams.broker import EmbeddedBroker, free_port
from streams.cli.simulator import Simulator
from streams.runtime.outputs import BatchWriter
from streams.runtime.routing import home_partition
from streams.runtime.settings import TopicSettings
from streams.runtime.topics import ensure_topics
from triggers import RuleBook

REPO = Path(__file__).resolve().parent.parent
RULES = Path("examples") / "saas-rules.yaml"  # relative to each engine's tree
PARTITION_KEY = b"\x00partition"  # the new engine's per-partition changelog record
SESSION_TIMEOUT_MS = 6000  # as the live tests: the embedded broker holds a join ~half of it
WORKER_START_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 600.0
RESTART_S = 15.0  # a worker's restart on the embedded broker, catching up included
IDLE_S = 10.0  # a restarted worker ready this long with no event: nothing left to consume

Json = dict[str, Any]

# Run in a child with the engine's tree first on sys.path: which loop.py it
# imports, and the offers its own replay makes of the events in argv[1], with
# one clock per partition (argv[3] of them) where that tree's replay has clocks.
_REPLAY_CHILD = """
import inspect, sys, orjson
import streams.runtime.loop as loop
from schemas.rules_file import load_rules
from streams.cli.replay import replay
from triggers import RuleBook
book = RuleBook.compile(load_rules(sys.argv[2]))
with open(sys.argv[1], "rb") as f:
    lines = f.read().split(b"\\n")
clocks = {"partitions": int(sys.argv[3])} if "partitions" in inspect.signature(replay).parameters else {}
offers = {o.offer_id: o.model_dump_json() for o in replay(lines, book, **clocks)}
sys.stdout.buffer.write(orjson.dumps({"loop": loop.__file__, "offers": offers}))
"""


# -- the workload ------------------------------------------------------------------------


def make_events(accounts: int, days: int, seed: int) -> list[bytes]:
    from schemas.rules_file import load_rules

    book = RuleBook.compile(load_rules(REPO / RULES))
    lines = [orjson.dumps(event) for event in Simulator(book, accounts, seed=seed).events(days=days)]
    return b"\n".join(lines).split(b"\n")  # one buffer, not ~4 KB per orjson result


@dataclass
class Engine:
    name: str
    tree: Path
    loop_file: str = ""
    expected: dict[str, bytes] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("UPSELL_")}
        env["PYTHONPATH"] = str(self.tree)
        return env

    def replay(self, events_file: Path, partitions: int) -> None:
        done = subprocess.run(
            [sys.executable, "-c", _REPLAY_CHILD, str(events_file), str(self.tree / RULES),
             str(partitions)],
            cwd=self.tree, env=self.env(), capture_output=True, check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"replay with engine {self.name} failed:\n{done.stderr.decode()}")
        found = orjson.loads(done.stdout)
        self.loop_file = found["loop"]
        self.expected = {k: v.encode() for k, v in found["offers"].items()}


# -- producing -----------------------------------------------------------------------------


class Sender:
    """Events keyed by account, each on its account's home partition, in record
    batches built as the engine builds its own (BatchWriter)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.topic, self.partitions = topic, partitions
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                         max_batch_size=PRODUCE_BATCH_BYTES, linger_ms=5)
        self.counts = [0] * partitions
        self.sent = 0

    async def __aenter__(self) -> Sender:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.producer.stop()

    async def send(self, lines: list[bytes]) -> None:
        writer = BatchWriter(self.producer)
        for line in lines:
            account_id: str = orjson.loads(line)["account_id"]
            partition = home_partition(account_id, self.partitions)
            writer.write(self.topic, partition, account_id.encode(), line)
            self.counts[partition] += 1
        await writer.send()
        await asyncio.gather(*(d.future for d in writer.take_in_flight()))
        self.sent += len(lines)

    async def paced(self, lines: list[bytes], per_second: int) -> None:
        tick = 0.05
        chunk = max(1, int(per_second * tick))
        began = time.monotonic()
        for start in range(0, len(lines), chunk):
            await self.send(lines[start:start + chunk])
            due = began + (start + chunk) / per_second
            await asyncio.sleep(max(0.0, due - time.monotonic()))


# -- the worker ----------------------------------------------------------------------------


class Worker:
    """`python -m streams.cli worker` of one engine's tree, restartable."""

    def __init__(self, engine: Engine, bootstrap: str, topics: TopicSettings, group: str,
                 checkpoint_ms: int, logs: Path) -> None:
        self.engine = engine
        self.port = free_port()
        self.logs = logs
        self.incarnation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **engine.env(),
            "UPSELL_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "UPSELL_TOPIC_EVENTS": topics.events,
            "UPSELL_TOPIC_OFFERS": topics.offers,
            "UPSELL_TOPIC_DLQ": topics.dlq,
            "UPSELL_TOPIC_CHANGELOG": topics.changelog,
            "UPSELL_TOPIC_PARTITIONS": str(topics.partitions),
            "UPSELL_GROUP_ID": group,
            "UPSELL_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
            "UPSELL_CHECKPOINT_INTERVAL_MS": str(checkpoint_ms),
            "UPSELL_RULES": str(RULES),
            # The event clock, so that the worker gives what the replay gives: in wall
            # mode a caught-up partition would fire the simulated accounts' timers at
            # the day's wall clock (an engine without clocks ignores the variable).
            "UPSELL_CLOCK": "event",
        }

    def start(self) -> None:
        self.incarnation += 1
        log = (self.logs / f"worker-{self.incarnation}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--web-port", str(self.port)],
            env=self.env, cwd=self.engine.tree, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.incarnation} exited with {self.proc.returncode}; "
                               f"see {self.logs}/worker-{self.incarnation}.log")

    def _status(self) -> Json | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=1) as r:
                status: Json = json.loads(r.read())
                return status
        except (OSError, ValueError):
            return None

    async def status(self) -> Json | None:
        return await asyncio.to_thread(self._status)

    async def until_consuming(self, timeout: float = WORKER_START_TIMEOUT_S) -> tuple[Json, float]:
        """Wait until this incarnation is ready and has consumed events."""
        deadline = time.monotonic() + timeout
        ready_since: float | None = None
        while True:
            self.check_alive()
            status = await self.status()
            now = time.monotonic()
            if status is not None and status.get("ready"):
                ready_since = ready_since or now
                if status["events"] > 0 or now - ready_since > IDLE_S:
                    return status, now  # consuming, or nothing left to consume
            if now > deadline:
                raise TimeoutError(f"worker {self.incarnation} not consuming after {timeout:.0f}s")
            await asyncio.sleep(0.1)

    async def until_caught_up(self, lag: float, timeout: float = 60) -> tuple[Json, float]:
        """Wait until this incarnation's lag (records past what it committed) is
        at most `lag`, on every partition's sum."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            status = await self.status()
            now = time.monotonic()
            if (status is not None and len(status["lag"]) == len(status["partitions"]) > 0
                    and sum(status["lag"].values()) <= lag):
                return status, now
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {self.incarnation} not caught up after {timeout:.0f}s")
            await asyncio.sleep(0.1)


def kill_had_backlog(status: Json) -> bool:
    """Records left past what it committed, or not known yet (no checkpoint made)."""
    return not status["lag"] or sum(status["lag"].values()) > 0


# -- reading back --------------------------------------------------------------------------


async def read_all(bootstrap: str, topic: str, partitions: int,
                   keep: Any = None) -> list[Any]:
    """Every record of a topic, each partition from its start to its high watermark."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=100, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    records: list[Any] = []
    try:
        remaining = {TopicPartition(topic, p) for p in range(partitions)}
        consumer.assign(list(remaining))
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + 300
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=400)
            for messages in batch.values():
                records.extend(m for m in messages if keep is None or keep(m))
            for tp in list(remaining):
                end = consumer.highwater(tp)
                if end is not None and end >= 0 and await consumer.position(tp) >= end:
                    remaining.discard(tp)
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: partitions {remaining} not read to the end")
    finally:
        await consumer.stop()
    return records


# -- one run -------------------------------------------------------------------------------


@dataclass
class Kill:
    at: float  # wall clock, seconds
    consumed: int  # events this incarnation had consumed (its /status) at the last look
    window_s: float  # seconds from the start of the window (consuming, caught up) to the kill
    window_events_per_s: int  # its consumption rate in that window
    offers_made: int  # offers this incarnation had decided
    lag: int  # records past the committed offsets, at the last look
    since_checkpoint_s: float | None
    events_flowing: bool  # events were still being sent, or left to consume
    duplicates: int = 0
    # duplicates whose first copy is at or past / before the offers end the
    # changelog held for its partition when the kill came (new engine), or no end
    past_end: int = 0
    before_end: int = 0
    no_end: int = 0
    # the offers the restore after this kill read past the recorded ends (all
    # partitions), and the age of the oldest of those ends at the kill
    restore_reads: int = 0
    end_age_s: float = 0.0
    # partitions with offers on the topic but no offers end in the changelog at the
    # kill (the restore reads none of their offers): partition -> offers on it
    unprotected: dict[int, int] = field(default_factory=dict)


@dataclass
class Run:
    engine: str
    repetition: int
    events: int
    expected: int
    delivered: int = 0
    missing: int = 0
    unexpected: int = 0
    differing: int = 0  # same id, other content than the replay's
    duplicates: int = 0
    duplicated_offers: int = 0
    share_duplicated: float = 0.0
    offers_end_records: int = 0
    final_offers: int = 0  # offers the last incarnation decided (its /status)
    kills: list[Kill] = field(default_factory=list)
    duplicates_by_partition: dict[int, int] = field(default_factory=dict)
    worst: list[Json] = field(default_factory=list)  # a few duplicates, in detail
    seconds: float = 0.0
    logs: str = ""


async def run_once(engine: Engine, repetition: int, bootstrap: str, lines: list[bytes],
                   args: argparse.Namespace, rnd: random.Random, logs: Path) -> Run:
    began = time.monotonic()
    prefix = f"kill-{engine.name}-{repetition}-{uuid.uuid4().hex[:6]}"
    topics = TopicSettings(events=f"{prefix}-events", offers=f"{prefix}-offers",
                           dlq=f"{prefix}-dlq", changelog=f"{prefix}-changelog",
                           partitions=args.partitions)
    await ensure_topics(bootstrap, topics, {})
    run = Run(engine.name, repetition, len(lines), len(engine.expected), logs=str(logs))
    worker = Worker(engine, bootstrap, topics, f"{prefix}-group", args.checkpoint_interval_ms,
                    logs)
    async with Sender(bootstrap, topics.events, args.partitions) as sender:
        sending: asyncio.Task[None] | None = None
        if args.rate == 0:
            await sender.send(lines)
        try:
            worker.start()
            if args.rate:
                while await worker.status() is None:
                    worker.check_alive()
                    await asyncio.sleep(0.1)
                sending = asyncio.create_task(sender.paced(lines, args.rate))
            for number in range(1, args.kills + 1):
                status, since = await worker.until_consuming()
                if args.rate:  # the backlog of the restart first: kill in the steady flow
                    status, since = await worker.until_caught_up(
                        args.rate * (args.checkpoint_interval_ms / 1000 + 1))
                window = args.kill_after + rnd.uniform(0, args.checkpoint_interval_ms / 1000)
                at_start, last = status, status
                while time.monotonic() + 0.1 < since + window:
                    worker.check_alive()
                    last = await worker.status() or last
                    await asyncio.sleep(0.1)
                await asyncio.sleep(max(0.0, since + window - time.monotonic()))
                last = await worker.status() or last  # the last look, just before the kill
                sending_now = sending is not None and not sending.done()
                worker.kill()
                seconds = time.monotonic() - since
                kill = Kill(
                    at=time.time(), consumed=last["events"],
                    window_s=round(seconds, 2),
                    window_events_per_s=round((last["events"] - at_start["events"]) / seconds),
                    offers_made=last["offers"], lag=sum(last["lag"].values()),
                    since_checkpoint_s=last["last_checkpoint_seconds_ago"],
                    events_flowing=sending_now or kill_had_backlog(last),
                )
                run.kills.append(kill)
                print(f"  {engine.name}#{repetition} kill {number}: {kill.window_s}s into the "
                      f"window, {kill.window_events_per_s} events/s in it; this incarnation: "
                      f"{kill.consumed} events, {kill.offers_made} offers; lag {kill.lag}",
                      flush=True)
                if not kill.events_flowing:
                    print("  WARNING: no events left to send or consume at this kill: make the "
                          "workload larger (--accounts, --days)", flush=True)
                worker.start()
            if sending is not None:
                await sending
            async with GroupOffsets(bootstrap, f"{prefix}-group", topics.events,
                                    args.partitions) as offsets:
                deadline = time.monotonic() + DRAIN_TIMEOUT_S
                while any(o < c for o, c in zip(await offsets.fetch(), sender.counts, strict=True)):
                    worker.check_alive()
                    if time.monotonic() > deadline:
                        raise TimeoutError("the worker did not commit every event")
                    await asyncio.sleep(0.5)
            final = await worker.status()
            run.final_offers = final["offers"] if final else -1
        finally:
            worker.stop()
            if sending is not None and not sending.done():
                sending.cancel()
    offers = await read_all(bootstrap, topics.offers, args.partitions)
    ends = await read_all(bootstrap, topics.changelog, args.partitions,
                          keep=lambda m: m.key == PARTITION_KEY)
    analyse(run, engine, offers, ends)
    run.seconds = round(time.monotonic() - began, 1)
    return run


def analyse(run: Run, engine: Engine, offers: list[Any], ends: list[Any]) -> None:
    expected = engine.expected
    copies: dict[str, list[Any]] = defaultdict(list)
    for record in offers:
        copies[orjson.loads(record.value)["offer_id"]].append(record)
    run.delivered = len(offers)
    run.missing = len(set(expected) - set(copies))
    run.unexpected = len(set(copies) - set(expected))
    run.differing = sum(1 for offer_id, records in copies.items() if offer_id in expected
                        for r in records if r.value != expected[offer_id])
    run.duplicates = run.delivered - len(copies)
    run.duplicated_offers = sum(1 for records in copies.values() if len(records) > 1)
    run.share_duplicated = run.duplicated_offers / max(1, len(expected))
    run.offers_end_records = len(ends)
    # offers end per partition as the changelog held it at each kill (the highest
    # recorded before the kill: the restore keeps the highest)
    recorded: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for record in ends:
        if record.value is not None:
            recorded[record.partition].append((record.timestamp,
                                               orjson.loads(record.value)["offers_end"]))
    kill_ms = [int(k.at * 1000) for k in run.kills]
    by_partition: Counter[int] = Counter()
    for offer_id, records in copies.items():
        if len(records) < 2:
            continue
        records.sort(key=lambda r: (r.timestamp, r.offset))
        first = records[0]
        for extra in records[1:]:
            before = [i for i, at in enumerate(kill_ms) if at <= extra.timestamp]
            if not before:
                continue  # a copy before any kill: counted in the totals only
            kill = run.kills[before[-1]]
            kill.duplicates += 1
            by_partition[extra.partition] += 1
            held = [end for at, end in recorded[first.partition] if at <= kill_ms[before[-1]]]
            end = max(held) if held else None
            if end is None:
                kill.no_end += 1
            elif first.offset >= end:
                kill.past_end += 1
            else:
                kill.before_end += 1
            if len(run.worst) < 8:
                run.worst.append({
                    "offer_id": offer_id, "partition": first.partition, "kill": before[-1] + 1,
                    "first_offset": first.offset, "copy_offset": extra.offset,
                    "first_ms_before_kill": kill_ms[before[-1]] - first.timestamp,
                    "copy_ms_after_kill": extra.timestamp - kill_ms[before[-1]],
                    "offers_end_at_kill": end,
                })
    run.duplicates_by_partition = dict(sorted(by_partition.items()))
    # What each restore had to read: the offers past the recorded ends, as the topic
    # stood at the kill (records stamped by the killed incarnation).
    last_offset: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for record in offers:
        last_offset[record.partition].append((record.timestamp, record.offset))
    for kill, at in zip(run.kills, kill_ms, strict=True):
        for partition in sorted(set(recorded) | set(last_offset)):
            top = max((o + 1 for t, o in last_offset[partition] if t <= at), default=0)
            held = [(end, stamp) for stamp, end in recorded[partition] if stamp <= at]
            if not held:
                if top and ends:
                    kill.unprotected[partition] = top
                continue
            end, stamp = max(held)
            kill.restore_reads += max(0, top - end)
            kill.end_age_s = max(kill.end_age_s, round((at - stamp) / 1000, 2))


# -- the report ----------------------------------------------------------------------------


def table(runs: list[Run]) -> str:
    head = (f"{'engine':<6} {'run':>3} {'events':>8} {'expected':>8} {'delivered':>9} "
            f"{'missing':>7} {'unexpected':>10} {'dups':>5} {'dups per kill':<24} "
            f"{'offers duplicated':>17}")
    rows = [head, "-" * len(head)]
    for r in runs:
        per_kill = " ".join(str(k.duplicates) for k in r.kills)
        rows.append(
            f"{r.engine:<6} {r.repetition:>3} {r.events:>8} {r.expected:>8} {r.delivered:>9} "
            f"{r.missing:>7} {r.unexpected:>10} {r.duplicates:>5} {per_kill:<24} "
            f"{r.duplicated_offers:>6} ({r.share_duplicated:6.2%})")
    rows.append("")
    for name in dict.fromkeys(r.engine for r in runs):
        mine = [r for r in runs if r.engine == name]
        per_kill = [k.duplicates for r in mine for k in r.kills]
        share = [r.share_duplicated for r in mine]
        rate = [k.window_events_per_s for r in mine for k in r.kills]
        rows.append(
            f"{name}: {len(mine)} runs, {len(per_kill)} kills: duplicates per kill mean "
            f"{statistics.mean(per_kill):.1f} (min {min(per_kill)}, max {max(per_kill)}); "
            f"offers duplicated {statistics.mean(share):.2%} of all; worker consumed "
            f"~{statistics.mean(rate):,.0f} events/s in the seconds before a kill")
    return "\n".join(rows)


def details(runs: list[Run]) -> str:
    rows = []
    for r in runs:
        decided = sum(k.offers_made for k in r.kills) + r.final_offers
        rows.append(f"{r.engine}#{r.repetition} ({r.seconds}s, logs {r.logs}): "
                    f"offers decided by all incarnations ~{decided}, i.e. ~{decided - r.expected} "
                    f"decided again after the kills (by /status just before each kill); "
                    f"offers-end records in the changelog {r.offers_end_records}; "
                    f"content differing from the replay {r.differing}; "
                    f"duplicates by partition {r.duplicates_by_partition or '-'}")
        for i, k in enumerate(r.kills, 1):
            rows.append(
                f"  kill {i}: {k.duplicates} dups (first copy past the recorded offers end "
                f"{k.past_end}, before it {k.before_end}, no end recorded {k.no_end}); "
                f"{k.window_events_per_s} events/s for {k.window_s}s before it; incarnation "
                f"{k.consumed} events, {k.offers_made} offers; lag {k.lag}; last checkpoint "
                f"{k.since_checkpoint_s}s before{'' if k.events_flowing else '; NO EVENTS LEFT'}"
                + (f"; the restore read {k.restore_reads} offers past the recorded ends "
                   f"(oldest end {k.end_age_s}s old)" if r.offers_end_records else "")
                + (f"; partitions with offers but no end recorded: {k.unprotected}"
                   if k.unprotected else ""))
        for w in r.worst:
            rows.append(f"    e.g. {w}")
    return "\n".join(rows)


async def main_async(args: argparse.Namespace) -> list[Run]:
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    trees = {"new": REPO, "old": Path(args.old_path).resolve()}
    unknown = [n for n in names if n not in trees]
    if unknown:
        raise SystemExit(f"unknown engines {unknown}: use old and/or new")
    started = time.monotonic()
    lines = make_events(args.accounts, args.days, args.seed)
    print(f"workload: {len(lines)} events over {args.accounts} accounts, {args.days} days "
          f"(seed {args.seed}), made in {time.monotonic() - started:.1f}s", flush=True)
    needed = args.rate * (5 + args.kills * (RESTART_S + args.kill_after + 1))
    if args.rate and len(lines) < needed:
        print(f"WARNING: at {args.rate} events/s, {args.kills} kills need ~{needed:,.0f} events; "
              "the last kills may find none left (more --accounts or --days)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-kill-"))
    events_file = work / "events.jsonl"
    events_file.write_bytes(b"\n".join(lines))
    engines = {}
    for name in names:
        engine = engines[name] = Engine(name, trees[name])
        engine.replay(events_file, args.partitions)
        print(f"engine {name}: imports {engine.loop_file}; its replay makes "
              f"{len(engine.expected)} offers", flush=True)
    if len(engines) > 1:
        ids = [set(e.expected) for e in engines.values()]
        same = all(i == ids[0] for i in ids)
        print(f"the engines' replays make {'the same' if same else 'DIFFERENT'} offer ids",
              flush=True)
    rnd = random.Random(args.seed)
    runs: list[Run] = []
    with EmbeddedBroker() as broker:
        print(f"embedded broker at {broker.bootstrap_servers}; logs under {work}", flush=True)
        for repetition in range(1, args.runs + 1):
            for name in names:  # interleaved, so that the machine's noise hits both alike
                logs = work / f"{name}-{repetition}"
                logs.mkdir()
                run = await run_once(engines[name], repetition, broker.bootstrap_servers, lines,
                                     args, rnd, logs)
                runs.append(run)
                print(table([run]).splitlines()[2], flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs per run (default 4)")
    parser.add_argument("--accounts", type=int, default=10_000, help="simulated accounts (10000)")
    parser.add_argument("--days", type=int, default=90, help="simulated days (90)")
    parser.add_argument("--engines", default="old,new", help="old,new (default both)")
    parser.add_argument("--old-path", default="/work/old", help="the old engine's tree")
    parser.add_argument("--runs", type=int, default=2, help="runs per engine (default 2)")
    parser.add_argument("--rate", type=int, default=15_000,
                        help="events/s, sent all along (default 15000); 0: all sent first")
    parser.add_argument("--kill-after", type=float, default=3.0,
                        help="seconds of consuming after each (re)start before the kill (3)")
    parser.add_argument("--partitions", type=int, default=8, help="topic partitions (8)")
    parser.add_argument("--checkpoint-interval-ms", type=int, default=500,
                        help="UPSELL_CHECKPOINT_INTERVAL_MS (default 500, the engine's default)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="save the runs here")
    args = parser.parse_args()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    runs = asyncio.run(main_async(args))
    print(f"\n$ {command}\n")
    print(table(runs))
    print()
    print(details(runs))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    bad = [r for r in runs if r.missing or r.unexpected or r.differing]
    if bad:
        print("\nFAILED: missing, unexpected or differing offers in "
              + ", ".join(f"{r.engine}#{r.repetition}" for r in bad))
        sys.exit(1)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
