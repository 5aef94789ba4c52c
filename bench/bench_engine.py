"""Benchmark of the live engine on the embedded broker (not a test): `make bench`.

One run, one embedded broker, fresh topics per phase (8 partitions each):

  1. prefill   500k events over 100k accounts (bench_core.make_events), keyed
               and partitioned by account as producers send them
  2. ceiling   a bare aiokafka consumer over that topic, no work: the client's limit
  3. engine    the Engine over the same topic, from its first record consumed to
               the checkpoint that commits all of them: events/s, CPU, peak RSS
  4. restore   a fresh Engine in the same group rebuilding the 100k accounts
               from the changelog on assignment
  5. latency   event-to-offer latency at a steady 2,000 events/s (sent with
               streams.producer.EventProducer) with the engine's default settings

Phases 2-5 run the measured side in a child process (this script with
`--child`), so CPU and memory figures belong to that side alone. The engine is
timed by wrapping its `_process` and `_checkpoint` on the instance (same
behaviour, a clock read per batch). Pass `--profile FILE` to run phase 3 once
more under cProfile (slower) and print the hotspots.

On the embedded broker the latency drifts up with the run's length: its fetch
cost grows with the number of record batches in a partition (BROKER_NOTES.md),
so the "per 5 s" rows show the trend, not only the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import math
import os
import platform
import pstats
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bench_core import RULES, make_events

from schemas.events import decode_event
from schemas.rules_file import load_rules
from streams.broker import EmbeddedBroker
from streams.config import EngineSettings, TopicSettings
from streams.engine import Engine
from streams.partitioning import home_partition
from streams.producer import EventProducer
from streams.topics import ensure_topics
from streams.tuning import tune_gc
from triggers import AccountState, RuleBook, evaluate

PARTITIONS = 8
TARGET_EVENTS_PER_S = 100_000
TARGET_P99_MS = 250.0
PRODUCE_BATCH_BYTES = 256 * 1024  # the engine's own producer batch size
MARK = "@@bench "  # prefix of the child's protocol lines on stdout
REPO = Path(__file__).resolve().parent.parent
PHASE_TIMEOUT_S = 180.0


# -- small helpers (both sides) ------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: on Linux that keeps
    the peak of the process image before exec, i.e. of the forking parent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU of another process (the broker), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def topics_for(run: str, phase: str) -> TopicSettings:
    prefix = f"bench-{run}-{phase}"
    return TopicSettings(
        events=f"{prefix}-events", offers=f"{prefix}-offers", dlq=f"{prefix}-dlq",
        changelog=f"{prefix}-changelog", partitions=PARTITIONS,
    )


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- child side ------------------------------------------------------------------------


def emit(**message: Any) -> None:
    sys.stdout.write(MARK + orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


async def child_ceiling(args: dict[str, Any]) -> dict[str, Any]:
    """A consumer that only counts: what aiokafka itself can fetch and decode."""
    total: int = args["events"]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args["bootstrap"], enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,  # as the engine's consumer
    )
    await consumer.start()
    try:
        tps = [TopicPartition(args["topic"], p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count, first, cpu_first = 0, 0.0, 0.0
        while count < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if batch and not count:
                first, cpu_first = time.perf_counter(), time.process_time()
            count += sum(len(records) for records in batch.values())
        seconds = time.perf_counter() - first
        cpu = time.process_time() - cpu_first
    finally:
        await consumer.stop()
    return {"count": count, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_rss_mb()}


def make_engine(args: dict[str, Any], defaults: bool = False) -> Engine:
    overrides: dict[str, Any] = {"group_id": args["group"], "topics": TopicSettings(**args["topics"])}
    if not defaults:
        overrides["web_enabled"] = False  # not used by Engine; a worker would serve it
    settings = EngineSettings(**overrides)
    book = RuleBook.compile(load_rules(RULES))
    return Engine(settings, book, args["bootstrap"])


async def stop_engine(engine: Engine, runner: asyncio.Task[None]) -> float:
    started = time.perf_counter()
    await engine.stop()
    await asyncio.wait_for(runner, 30)  # run() returns once stop() is set
    return time.perf_counter() - started


async def child_engine(args: dict[str, Any]) -> dict[str, Any]:
    """Run the engine over a prefilled topic until a checkpoint covers every event."""
    total: int = args["events"]
    broker_pid: int = args["broker_pid"]
    engine = make_engine(args)
    tune_gc()  # as the worker does, once everything is imported and compiled
    profiler = cProfile.Profile() if args.get("profile") else None
    marks: dict[str, float] = {}
    spent = {"process": 0.0, "checkpoint": 0.0}  # wall seconds inside each, in the window

    # Instrumentation, no change of behaviour: note when the first batch is
    # handed to the engine and when the first checkpoint covering all events ends.
    process, checkpoint = engine._process, engine._checkpoint

    def timed_process(tp: TopicPartition, records: list[Any]) -> None:
        if "first" not in marks and records:
            marks["first"] = time.time()
            marks["cpu_first"] = time.process_time()
            marks["broker_first"] = proc_cpu_seconds(broker_pid)
            if profiler is not None:
                profiler.enable()
        started = time.perf_counter()
        process(tp, records)
        spent["process"] += time.perf_counter() - started

    async def timed_checkpoint(partitions: Any = None) -> None:
        covered = engine.metrics.events
        started = time.perf_counter()
        await checkpoint(partitions)
        if "first" in marks and "done" not in marks:
            spent["checkpoint"] += time.perf_counter() - started
        if covered >= total and "done" not in marks:
            marks["done"] = time.time()
            marks["cpu_done"] = time.process_time()
            marks["broker_done"] = proc_cpu_seconds(broker_pid)
            if profiler is not None:
                profiler.disable()

    engine._process = timed_process  # type: ignore[method-assign]
    engine._checkpoint = timed_checkpoint  # type: ignore[method-assign]

    began = time.time()
    await engine.start()
    runner = asyncio.create_task(engine.run())
    while "done" not in marks:
        if runner.done():
            runner.result()
            raise RuntimeError("engine stopped before all events were checkpointed")
        await asyncio.sleep(0.05)
    metrics = engine.metrics
    result = {
        "seconds": marks["done"] - marks["first"],
        "process_seconds": spent["process"], "checkpoint_seconds": spent["checkpoint"],
        "join_seconds": marks["first"] - began,
        "cpu": marks["cpu_done"] - marks["cpu_first"],
        "broker_cpu": marks["broker_done"] - marks["broker_first"],
        "events": metrics.events, "offers": sum(metrics.offers.values()),
        "checkpoints": metrics.checkpoints, "changelog_records": metrics.changelog_records,
        "invalid": metrics.invalid, "forwarded": metrics.forwarded,
        "duplicates": metrics.duplicates, "replayed": metrics.replayed,
        "accounts": sum(len(store.accounts) for store in engine.stores.values()),
        "peak_rss_mb": peak_rss_mb(), "rss_mb": rss_now_mb(),
    }
    result["stop_seconds"] = await stop_engine(engine, runner)
    if profiler is not None:
        profiler.dump_stats(args["profile"])
    return result


async def child_restore(args: dict[str, Any]) -> dict[str, Any]:
    """A fresh engine in the same group: time the changelog restore on assignment."""
    engine = make_engine(args)
    tune_gc()
    began = time.perf_counter()
    await engine.start()
    runner = asyncio.create_task(engine.run())
    while not engine.ready:
        if runner.done():
            runner.result()
            raise RuntimeError("engine stopped before it was ready")
        await asyncio.sleep(0.01)
    ready = time.perf_counter() - began
    await asyncio.sleep(1.0)  # the committed offsets are at the end: nothing to redo
    metrics = engine.metrics
    result = {
        "restore_seconds": metrics.restore_seconds, "restored_accounts": metrics.restored_accounts,
        "start_to_ready": ready, "events_after": metrics.events,
        "peak_rss_mb": peak_rss_mb(), "rss_mb": rss_now_mb(),
    }
    result["stop_seconds"] = await stop_engine(engine, runner)
    return result


async def child_latency(args: dict[str, Any]) -> dict[str, Any]:
    """The engine with default settings, until the parent writes `stop` on stdin."""
    engine = make_engine(args, defaults=True)
    tune_gc()
    # Instrumentation for the breakdown: how old each event is when the engine gets
    # it (its record timestamp is the producer's send time), and checkpoint durations.
    process, checkpoint = engine._process, engine._checkpoint
    arrival_ms: list[float] = []
    checkpoint_ms: list[float] = []
    windows: dict[int, list[float]] = {}  # 5 s window of the run -> ages

    def timed_process(tp: TopicPartition, records: list[Any]) -> None:
        now = time.time() * 1000
        ages = [now - record.timestamp for record in records]
        arrival_ms.extend(ages)
        windows.setdefault(int(now // 5000), []).extend(ages)
        process(tp, records)

    async def timed_checkpoint(partitions: Any = None) -> None:
        started = time.perf_counter()
        await checkpoint(partitions)
        checkpoint_ms.append((time.perf_counter() - started) * 1000)

    engine._process = timed_process  # type: ignore[method-assign]
    engine._checkpoint = timed_checkpoint  # type: ignore[method-assign]
    await engine.start()
    runner = asyncio.create_task(engine.run())
    while not engine.ready:
        if runner.done():
            runner.result()
            raise RuntimeError("engine stopped before it was ready")
        await asyncio.sleep(0.01)
    cpu0 = time.process_time()
    emit(kind="ready")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    metrics = engine.metrics
    result = {
        "events": metrics.events, "offers": sum(metrics.offers.values()),
        "checkpoints": metrics.checkpoints, "last_checkpoint_seconds": metrics.checkpoint_seconds,
        "cpu": time.process_time() - cpu0, "peak_rss_mb": peak_rss_mb(),
        "arrival_ms": sorted(arrival_ms), "checkpoint_ms": sorted(checkpoint_ms),
        "arrival_p99_by_window": [percentile(sorted(ages), 0.99)
                                  for _, ages in sorted(windows.items())],
    }
    result["stop_seconds"] = await stop_engine(engine, runner)
    return result


CHILDREN: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ceiling": child_ceiling, "engine": child_engine,
    "restore": child_restore, "latency": child_latency,
}


def child_main(phase: str, raw: str) -> None:
    result = asyncio.run(CHILDREN[phase](orjson.loads(raw)))
    emit(kind="result", **result)


# -- parent side -------------------------------------------------------------------------


class Child:
    """This script re-run with `--child PHASE`: JSON lines on stdout, `stop` on stdin."""

    def __init__(self, phase: str, args: dict[str, Any]) -> None:
        self.phase = phase
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--child", self.phase,
            orjson.dumps(self.args).decode(),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
            limit=64 * 2**20,  # a result line carries per-event figures
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.kill()
        if proc is not None:
            await proc.wait()

    async def message(self, kind: str, timeout: float = PHASE_TIMEOUT_S) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.phase}: no '{kind}' from the child in {timeout:.0f}s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not line:
                code = await self.proc.wait()
                raise RuntimeError(f"{self.phase}: child exited ({code}) before '{kind}'")
            text = line.decode()
            if not text.startswith(MARK):
                sys.stderr.write(text)
                continue
            message: dict[str, Any] = orjson.loads(text[len(MARK):])
            if message.get("kind") == kind:
                return message

    async def stop(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"stop\n")
        await self.proc.stdin.drain()


async def run_child(phase: str, args: dict[str, Any]) -> dict[str, Any]:
    async with Child(phase, args) as child:
        return await child.message("result")


async def prefill(bootstrap: str, topic: str, lines: list[bytes]) -> dict[str, Any]:
    """Produce the events keyed by account, on each account's home partition,
    in full batches (one sending task per partition keeps each partition in order)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=PRODUCE_BATCH_BYTES,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        batches: list[list[Any]] = [[] for _ in range(PARTITIONS)]
        open_batch: list[Any] = [producer.create_batch() for _ in range(PARTITIONS)]
        counts = [0] * PARTITIONS
        for line in lines:
            account_id: str = orjson.loads(line)["account_id"]
            partition = home_partition(account_id, PARTITIONS)
            key = account_id.encode()
            if open_batch[partition].append(key=key, value=line, timestamp=None) is None:
                batches[partition].append(open_batch[partition])
                open_batch[partition] = producer.create_batch()
                open_batch[partition].append(key=key, value=line, timestamp=None)
            counts[partition] += 1
        for partition in range(PARTITIONS):
            batches[partition].append(open_batch[partition])

        async def send_partition(partition: int) -> list[Any]:
            return [await producer.send_batch(batch, topic, partition=partition)
                    for batch in batches[partition]]

        futures = await asyncio.gather(*(send_partition(p) for p in range(PARTITIONS)))
        await asyncio.gather(*(future for group in futures for future in group))
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"seconds": seconds, "counts": counts,
            "batches": sum(len(b) for b in batches), "bytes": sum(len(line) for line in lines)}


async def committed_offsets(bootstrap: str, group: str, topic: str) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return [await consumer.committed(TopicPartition(topic, p)) or 0 for p in range(PARTITIONS)]
    finally:
        await consumer.stop()


def latency_events(rate: int, seconds: float) -> list[tuple[bytes, str, str]]:
    """Steady traffic in which 3 events in 20 belong to a fresh account whose seats
    go 7 then 8 of its Basic plan's 10 (the seats-80 trigger): ~100 offers/s on top of
    what the background traffic (bench_core.make_events) fires by itself.
    Returns (json line, event_id, account_id) in send order."""
    total = int(rate * seconds)
    groups = total // 20
    background = iter(make_events(groups * 17, 5_000, seed=2))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    plan: list[tuple[bytes, str, str]] = []
    for g in range(groups):
        account = f"lat-{g}"
        at = start + timedelta(seconds=g)
        hot: dict[int, dict[str, object]] = {
            0: {"type": "subscription", "plan": "basic", "started_at": "2025-01-15T00:00:00Z"},
            6: {"type": "usage", "metric": "seats", "value": 7},
            13: {"type": "usage", "metric": "seats", "value": 8},
        }
        for slot in range(20):
            body = hot.get(slot)
            if body is None:
                line = next(background)
                event = orjson.loads(line)
                plan.append((line, event["event_id"], event["account_id"]))
                continue
            event_id = f"lat-{g}-{slot}"
            line = orjson.dumps({"event_id": event_id, "account_id": account,
                                 "occurred_at": (at + timedelta(milliseconds=slot)).isoformat(),
                                 **body})
            plan.append((line, event_id, account))
    # One buffer split into lines: each orjson.dumps result alone holds ~4 KB.
    joined = b"\n".join(line for line, _, _ in plan).split(b"\n")
    return [(line, event_id, account) for line, (_, event_id, account) in zip(joined, plan, strict=True)]


def expected_offers(plan: list[tuple[bytes, str, str]]) -> int:
    """The offers the decision core makes for this traffic (replayed offline)."""
    book = RuleBook.compile(load_rules(RULES))
    states: dict[str, AccountState] = {}
    offers = 0
    for line, _, account in plan:
        state = states.get(account)
        if state is None:
            state = states[account] = AccountState(account)
        offers += len(evaluate(state, decode_event(line), book).offers)
    return offers


async def latency_phase(
    bootstrap: str, broker_pid: int, run: str, rate: int, seconds: float
) -> dict[str, Any]:
    topics = topics_for(run, "latency")
    await ensure_topics(bootstrap, topics, {})
    plan = latency_events(rate, seconds)
    expected = expected_offers(plan)
    sent_at: dict[str, float] = {}
    received: dict[str, tuple[float, float]] = {}  # offer_id -> (receive latency, stamp latency)
    duplicates = 0
    broker_share: list[float] = []
    args = {"bootstrap": bootstrap, "group": f"bench-{run}-latency",
            "topics": topics.model_dump()}

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
        fetch_max_wait_ms=10,  # bounds this reader's own share of the latency
    )
    # The project's own client for product apps: validates, keys by account,
    # acks=all, linger 5 ms.
    producer = EventProducer(bootstrap, topics.events)
    await consumer.start()
    await producer.__aenter__()
    stop_reading = asyncio.Event()

    async def read_offers() -> None:
        nonlocal duplicates
        tps = [TopicPartition(topics.offers, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop_reading.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for record in records:
                    offer = orjson.loads(record.value)
                    sent = sent_at.get(offer["caused_by"])
                    if sent is None:
                        continue
                    if offer["offer_id"] in received:
                        duplicates += 1
                        continue
                    received[offer["offer_id"]] = (now - sent, record.timestamp / 1000 - sent)

    try:
        async with Child("latency", args) as child:
            await child.message("ready")
            reader = asyncio.create_task(read_offers())
            await asyncio.sleep(0.5)  # the reader is positioned
            sent = 0
            started = time.perf_counter()
            window_end, broker_cpu = started + 5, proc_cpu_seconds(broker_pid)
            while sent < len(plan):
                if time.perf_counter() >= window_end:  # the broker's CPU share, per 5 s
                    now_cpu = proc_cpu_seconds(broker_pid)
                    broker_share.append((now_cpu - broker_cpu) / 5)
                    window_end, broker_cpu = window_end + 5, now_cpu
                due = min(len(plan), int((time.perf_counter() - started) * rate) + 1)
                while sent < due:
                    line, event_id, _ = plan[sent]
                    sent_at[event_id] = time.time()
                    await producer.send(line)
                    sent += 1
                await asyncio.sleep(0.002)
            send_seconds = time.perf_counter() - started
            await producer.flush()
            deadline = time.monotonic() + 15
            while len(received) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # late duplicates, if any
            stop_reading.set()
            await reader
            await child.stop()
            engine = await child.message("result")
    finally:
        await producer.__aexit__()
        await consumer.stop()
    by_receive = sorted(v[0] * 1000 for v in received.values())
    by_stamp = sorted(v[1] * 1000 for v in received.values())
    return {"events": sent, "send_seconds": send_seconds, "expected": expected,
            "received": len(received), "duplicates": duplicates,
            "broker_share": broker_share, "receive_ms": by_receive, "stamp_ms": by_stamp, "engine": engine}


async def bench(options: argparse.Namespace) -> None:
    run = time.strftime("%H%M%S") + f"-{os.getpid()}"
    cores = os.cpu_count() or 0
    print(f"bench_engine: {cores} cores ({len(os.sched_getaffinity(0))} usable), "
          f"Python {platform.python_version()}, {options.events:,} events over "
          f"{options.accounts:,} accounts, {PARTITIONS} partitions", flush=True)

    generated = time.perf_counter()
    # One buffer split into lines: each orjson.dumps result alone holds ~4 KB.
    lines = b"\n".join(make_events(options.events, options.accounts)).split(b"\n")
    print(f"  generated {len(lines):,} events in {time.perf_counter() - generated:.1f}s", flush=True)

    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        assert broker.pid is not None
        print(f"  embedded broker at {bootstrap} (pid {broker.pid}), "
              f"started in {broker.startup_seconds:.2f}s", flush=True)
        topics = topics_for(run, "throughput")
        await ensure_topics(bootstrap, topics, {})

        print("1/5 prefill ...", flush=True)
        filled = await prefill(bootstrap, topics.events, lines)
        total = len(lines)
        del lines
        print(f"    {total / filled['seconds']:,.0f} events/s, {filled['batches']} batches", flush=True)

        print("2/5 ceiling: bare aiokafka consumer ...", flush=True)
        ceiling = await run_child("ceiling", {"bootstrap": bootstrap, "topic": topics.events,
                                              "events": total})
        ceiling_rate = ceiling["count"] / ceiling["seconds"]
        print(f"    {ceiling_rate:,.0f} events/s", flush=True)

        print("3/5 engine end to end ...", flush=True)
        group = f"bench-{run}-engine"
        engine_args = {"bootstrap": bootstrap, "group": group, "topics": topics.model_dump(),
                       "events": total, "broker_pid": broker.pid}
        engine = await run_child("engine", engine_args)
        engine_rate = total / engine["seconds"]
        committed = await committed_offsets(bootstrap, group, topics.events)
        print(f"    {engine_rate:,.0f} events/s; committed offsets "
              f"{'match' if committed == filled['counts'] else 'DIFFER from'} the records produced",
              flush=True)

        print("4/5 state restore ...", flush=True)
        restored = await run_child("restore", engine_args)
        print(f"    {restored['restored_accounts']:,} accounts in "
              f"{restored['restore_seconds']:.2f}s", flush=True)

        print(f"5/5 latency at {options.rate:,} events/s for {options.latency_seconds:.0f}s ...",
              flush=True)
        latency = await latency_phase(
            bootstrap, broker.pid, run, options.rate, options.latency_seconds
        )

    if options.profile:
        print(f"\nprofiling the engine phase into {options.profile} ...", flush=True)
        with EmbeddedBroker() as broker:
            assert broker.pid is not None
            topics = topics_for(run, "profile")
            await ensure_topics(broker.bootstrap_servers, topics, {})
            lines = b"\n".join(make_events(options.events, options.accounts)).split(b"\n")
            await prefill(broker.bootstrap_servers, topics.events, lines)
            del lines
            profiled = await run_child("engine", {
                "bootstrap": broker.bootstrap_servers, "group": f"bench-{run}-profile",
                "topics": topics.model_dump(), "events": total, "broker_pid": broker.pid,
                "profile": options.profile,
            })
        print(f"  under cProfile: {total / profiled['seconds']:,.0f} events/s (inflated times)")
        stats = pstats.Stats(options.profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)

    report(cores, total, options, filled, ceiling, engine, committed, restored, latency)


def spread(ordered: list[float]) -> str:
    return (f"p50 {percentile(ordered, 0.5):.0f} ms  p95 {percentile(ordered, 0.95):.0f} ms  "
            f"p99 {percentile(ordered, 0.99):.0f} ms  max {ordered[-1] if ordered else math.nan:.0f} ms")


def report(
    cores: int, total: int, options: argparse.Namespace, filled: dict[str, Any],
    ceiling: dict[str, Any], engine: dict[str, Any], committed: list[int],
    restored: dict[str, Any], latency: dict[str, Any],
) -> None:
    ceiling_rate = ceiling["count"] / ceiling["seconds"]
    engine_rate = total / engine["seconds"]
    receive, stamp = latency["receive_ms"], latency["stamp_ms"]
    p99 = percentile(receive, 0.99)
    other_seconds = engine["seconds"] - engine["process_seconds"] - engine["checkpoint_seconds"]
    rows: list[tuple[str, str]] = [
        ("machine", f"{cores} cores, Python {platform.python_version()}, embedded Tansu broker"),
        ("prefill", f"{total:,} events / {options.accounts:,} accounts, "
                    f"{filled['bytes'] / 2**20:.0f} MB in {filled['seconds']:.2f}s = "
                    f"{total / filled['seconds']:,.0f} events/s"),
        ("ceiling (aiokafka, no work)", f"{ceiling_rate:,.0f} events/s "
                                        f"({ceiling['seconds']:.2f}s, CPU {ceiling['cpu']:.2f}s)"),
        ("engine end to end", f"{engine_rate:,.0f} events/s ({engine['seconds']:.2f}s, first record "
                              "consumed -> checkpoint committing all)"),
        ("  ratio to ceiling", f"{engine_rate / ceiling_rate:.0%}"),
        ("  engine CPU", f"{engine['cpu']:.2f}s = {engine['cpu'] / total * 1e6:.1f} us/event "
                         f"({engine['cpu'] / engine['seconds']:.0%} of one core)"),
        ("  engine wall time", f"{engine['process_seconds']:.2f}s deciding (_process), "
                               f"{engine['checkpoint_seconds']:.2f}s in checkpoints, "
                               f"{other_seconds:.2f}s fetching, sending offers, waiting"),
        ("  broker CPU meanwhile", f"{engine['broker_cpu']:.2f}s"),
        ("  peak RSS", f"{engine['peak_rss_mb']:,.0f} MB with {engine['accounts']:,} accounts"),
        ("  work", f"{engine['offers']:,} offers, {engine['checkpoints']} checkpoints, "
                   f"{engine['changelog_records']:,} changelog records, "
                   f"{engine['invalid']} invalid, {engine['forwarded']} forwarded"),
        ("  committed offsets", f"{sum(committed):,} of {total:,} "
                                f"({'all' if committed == filled['counts'] else 'MISMATCH'})"),
        ("  group join + start", f"{engine['join_seconds']:.2f}s (not in the figure above)"),
        ("state restore", f"{restored['restored_accounts']:,} accounts in "
                          f"{restored['restore_seconds']:.2f}s = "
                          f"{restored['restored_accounts'] / max(restored['restore_seconds'], 1e-9):,.0f}"
                          " accounts/s"),
        ("  start -> ready", f"{restored['start_to_ready']:.2f}s (group join "
                            f"{restored['start_to_ready'] - restored['restore_seconds']:.1f}s + restore), "
                            f"peak RSS {restored['peak_rss_mb']:,.0f} MB, "
                            f"{restored['events_after']} events redone"),
        ("latency load", f"{latency['events']:,} events in {latency['send_seconds']:.1f}s = "
                         f"{latency['events'] / latency['send_seconds']:,.0f} events/s, "
                         "default EngineSettings"),
        ("  offers", f"{latency['received']:,} received of {latency['expected']:,} expected, "
                     f"{latency['duplicates']} duplicates; engine CPU "
                     f"{latency['engine']['cpu']:.1f}s, {latency['engine']['checkpoints']} checkpoints"),
        ("  event -> offer received", spread(receive) + f" ({len(receive):,} offers)"),
        ("  event -> offer record time", spread(stamp) + " (when the engine wrote the offer)"),
        ("  event age when consumed", spread(latency["engine"]["arrival_ms"])
         + " (engine receive time - event record time, all events)"),
        ("  event age p99 per 5 s", "  ".join(f"{v:.0f}" for v in latency["engine"]["arrival_p99_by_window"])
         + " ms (does it grow as the partitions fill?)"),
        ("  broker CPU per 5 s", "  ".join(f"{v:.0%}" for v in latency["broker_share"])
         + " of one core"),
        ("  engine checkpoints", spread(latency["engine"]["checkpoint_ms"])
         + f" ({len(latency['engine']['checkpoint_ms'])}; the loop consumes nothing meanwhile)"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n" + "=" * 100)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("-" * 100)
    throughput_met = engine_rate >= TARGET_EVENTS_PER_S
    latency_met = p99 < TARGET_P99_MS and latency["received"] == latency["expected"]
    print(f"target: >= {TARGET_EVENTS_PER_S:,} events/s end to end: {engine_rate:,.0f} -> "
          f"{'met' if throughput_met else 'NOT MET'}")
    print(f"target: p99 event -> offer < {TARGET_P99_MS:.0f} ms: {p99:.0f} ms -> "
          f"{'met' if latency_met else 'NOT MET'}")
    print("=" * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=2_000, help="latency phase events/s")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--profile", metavar="FILE", help="also run phase 3 under cProfile")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "JSON"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child_main(*options.child)
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(bench(options))


if __name__ == "__main__":
    main()
