"""The phases of the engine benchmark. Each is one coroutine in this process (the
parent), plus the coroutine its child process runs (`*_child`, see harness.py);
each returns its figures as plain JSON data, which report.py prints.

  prefill     the throughput events produced on a fresh topic, keyed and
              partitioned by account as producers send them
  ceiling     a bare aiokafka consumer over that topic, no work: the client's limit
  end_to_end  N Engines (N worker processes) in one fresh group over a fresh copy
              of those events (engine x1, engine x2: the design scales out by
              adding workers to the group, up to the partition count)
  restore     a fresh Engine in engine x1's group rebuilding its accounts from
              the changelog on assignment
  latency     event-to-offer latency at a steady rate (sent with
              streams.cli.producer.EventProducer), the run's EngineSettings
              (the benchmark's: the defaults but the event clock)

Engine phases: the workers start on the fresh, still empty topic and join the
group (5-18 s on the embedded broker, not counted). Once every partition is
assigned and the assignment has held for `settle` seconds, the workers are
paused (SIGSTOP), the events are produced, and the workers are resumed
(SIGCONT). The time runs from the resume to the end of the checkpoint that
commits the last offsets (the workers' `metrics.last_checkpoint_at`, confirmed
by polling the group's committed offsets every 20 ms); CPU is read from /proc
for exactly that window. Pausing keeps the producer from competing with the
workers for the cores; `live` produces while the workers run instead, timed
from the first batch a worker has decided. None of the engine's methods is
wrapped, so the figures hold whatever its checkpoint does inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import math
import signal
import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.harness import (
    CHILD_POLL_S,
    OFFSETS_POLL_S,
    PHASE_TIMEOUT_S,
    Child,
    Cluster,
    GroupOffsets,
    Json,
    assignment,
    check_running,
    emit,
    engine_counts,
    make_engine,
    peak_rss_mb,
    produce,
    read_command,
    rss_now_mb,
    run_child,
    spread,
    stop_engine,
    wait_assigned,
)
from bench.workload import expected_offers, latency_events
from streams.cli.producer import EventProducer
from streams.runtime.settings import TopicSettings
from streams.worker.tuning import tune_gc

ASSIGNMENT_SETTLE_S = 1.0  # an assignment must hold this long before the timing starts
RESTORE_HOLD_S = 1.0  # the restored engine runs this long after ready: work it redoes
LATENCY_WINDOW_S = 5  # the latency phase's trend rows: one figure per window
OFFERS_WAIT_S = 15.0  # the latency phase's wait for the last expected offers
READER_FETCH_WAIT_MS = 10  # the latency phase's offer reader: bounds its own share


# -- prefill ---------------------------------------------------------------------------


async def prefill(cluster: Cluster, lines: list[bytes]) -> Json:
    """Produce the events on a fresh topic; the ceiling phase reads them."""
    topics = await cluster.fresh_topics("throughput")
    filled = await produce(cluster.bootstrap, topics.events, lines, cluster.partitions)
    return {"topic": topics.events, **filled}


# -- ceiling ---------------------------------------------------------------------------


async def ceiling(cluster: Cluster, topic: str, events: int) -> Json:
    """A consumer that only counts: what aiokafka itself can fetch and decode."""
    result = await run_child("bench.phases:ceiling_child", {
        "bootstrap": cluster.bootstrap, "topic": topic, "events": events,
        "partitions": cluster.partitions,
    })
    result["events_per_s"] = result["count"] / result["seconds"]
    return result


async def ceiling_child(args: Json) -> Json:
    total: int = args["events"]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args["bootstrap"], enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,  # as the engine's consumer
    )
    await consumer.start()
    try:
        tps = [TopicPartition(args["topic"], p) for p in range(args["partitions"])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count, first, cpu_first = 0, 0.0, 0.0
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while count < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"ceiling: {count:,} of {total:,} events in {PHASE_TIMEOUT_S:.0f}s")
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if batch and not count:
                first, cpu_first = time.perf_counter(), time.process_time()
            count += sum(len(records) for records in batch.values())
        seconds = time.perf_counter() - first
        cpu = time.process_time() - cpu_first
    finally:
        await consumer.stop()
    return {"count": count, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_rss_mb()}


# -- engine xN -------------------------------------------------------------------------

SUMMED = ("events", "offers", "checkpoints", "changelog_records", "invalid", "forwarded",
          "duplicates", "replayed", "accounts", "reassigned")


async def end_to_end(
    cluster: Cluster, name: str, workers: int, lines: list[bytes], live: bool = False,
    settle: float = ASSIGNMENT_SETTLE_S, profile: str | None = None, rules: str | None = None,
) -> Json:
    """`workers` engine processes in one fresh group over a fresh topic, filled once
    they hold every partition (see the module docstring). `profile`: a file the
    (first) worker writes its cProfile stats to, for the measured window; `rules`:
    another rules file than the run's."""
    topics = await cluster.fresh_topics(name)
    group = cluster.group(name)
    args = {**cluster.engine_args(group, topics, rules), "profile": profile}
    async with contextlib.AsyncExitStack() as stack:
        children = [await stack.enter_async_context(Child("bench.phases:engine_child", args))
                    for _ in range(workers)]
        join_seconds = await wait_assigned(children, cluster.partitions, settle)
        for child in children:
            await child.send("measure")
        for child in children:
            await child.message("armed")
        offsets = await stack.enter_async_context(
            GroupOffsets(cluster.bootstrap, group, topics.events, cluster.partitions)
        )

        def cpu_now() -> tuple[list[float], float]:
            return [child.cpu_seconds() for child in children], cluster.broker_cpu()

        if not live:
            for child in children:
                child.signal(signal.SIGSTOP)
        cpu_before, broker_before = cpu_now()
        resumed = time.time()  # with `live`: when the fill began
        filled = await produce(cluster.bootstrap, topics.events, lines, cluster.partitions)
        if not live:
            cpu_before, broker_before = cpu_now()
            resumed = time.time()
            for child in children:
                child.signal(signal.SIGCONT)
        committed, seen = await offsets.wait_for(filled["counts"], PHASE_TIMEOUT_S)
        cpu_after, broker_after = cpu_now()
        for child in children:
            await child.stop()
        results = [await child.message("result") for child in children]

    firsts = [r["first_event_at"] for r in results if r["first_event_at"] is not None]
    first_decided = min(firsts) if firsts else math.nan
    start = first_decided if live else resumed
    # The end: the last checkpoint to end, when it is the one the poll saw committing
    # the last offsets (the poll only notices it up to OFFSETS_POLL_S + a round trip later).
    last_checkpoint = max(r["last_checkpoint_at"] for r in results)
    end = last_checkpoint if start < last_checkpoint <= seen else seen
    seconds = end - start
    cpu = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
    return {
        "workers": workers, "rules": args["rules"], "events_sent": filled["events"],
        "seconds": seconds,
        "events_per_s": filled["events"] / seconds,
        "start": "first" if live else "resume", "end_by": "checkpoint" if end != seen else "poll",
        "poll_lag": seen - last_checkpoint, "first_decided_after": first_decided - resumed,
        "join_seconds": join_seconds, "settle_seconds": settle, "offsets_poll_ms": OFFSETS_POLL_S * 1000,
        "fill_seconds": filled["seconds"], "produced": filled["counts"], "committed": committed,
        "cpu": sum(cpu), "broker_cpu": broker_after - broker_before,
        "per_worker": [
            {"partitions": r["partitions"], "events": r["events"], "cpu": cpu_n,
             "peak_rss_mb": r["peak_rss_mb"], "rss_mb": r["rss_mb"], "stop_seconds": r["stop_seconds"]}
            for r, cpu_n in zip(results, cpu, strict=True)
        ],
        "group": group, "topics": topics.model_dump(),
        **{key: sum(r[key] for r in results) for key in SUMMED},
        "checkpoint_ms": spread(ms for r in results for ms in r["checkpoint_ms"]),
    }


async def engine_child(args: Json) -> Json:
    """One worker of an engine phase, driven by the parent over stdin:

    - until `measure`: report every change of the assignment (`assignment`);
    - until `stop`: watch the public metrics (the parent pauses, fills the topic,
      resumes, and watches the group's committed offsets meanwhile);
    - then report (`result`) and stop the engine.
    """
    engine = make_engine(args)
    tune_gc()  # as the worker does, once everything is imported and compiled
    profiler = cProfile.Profile() if args.get("profile") else None
    await engine.start()
    runner = asyncio.create_task(engine.run())

    command = read_command()
    seen: tuple[bool, list[int]] | None = None
    while not command.done():
        check_running(runner)
        now = assignment(engine)
        if now != seen:
            seen = now
            emit(kind="assignment", ready=now[0], partitions=now[1])
        await asyncio.wait({command}, timeout=0.01)

    if profiler is not None:
        profiler.enable()
    emit(kind="armed", events=engine.metrics.events)
    command = read_command()
    first_event_at: float | None = None
    checkpoint_ms: list[float] = []  # metrics.checkpoint_seconds, at each new checkpoint
    checkpoints_seen, reassigned = engine.metrics.checkpoints, 0
    while not command.done():
        check_running(runner)
        metrics = engine.metrics
        if first_event_at is None and metrics.events:
            first_event_at = time.time()
        if metrics.checkpoints != checkpoints_seen:
            checkpoints_seen = metrics.checkpoints
            checkpoint_ms.append(metrics.checkpoint_seconds * 1000)
        now = assignment(engine)
        if now != seen:
            seen, reassigned = now, reassigned + 1
        await asyncio.wait({command}, timeout=CHILD_POLL_S)
    if engine.metrics.checkpoints != checkpoints_seen:  # one after the last poll
        checkpoint_ms.append(engine.metrics.checkpoint_seconds * 1000)
    if profiler is not None:
        profiler.disable()

    metrics = engine.metrics
    result: Json = {
        "first_event_at": first_event_at, "last_checkpoint_at": metrics.last_checkpoint_at,
        "events": metrics.events, "checkpoints": metrics.checkpoints,
        "checkpoint_ms": checkpoint_ms, **engine_counts(engine),
        "partitions": sorted(engine.stores), "reassigned": reassigned,
        "peak_rss_mb": peak_rss_mb(), "rss_mb": rss_now_mb(),
    }
    result["stop_seconds"] = await stop_engine(engine, runner)
    if profiler is not None:
        profiler.dump_stats(args["profile"])
    return result


# -- restore ---------------------------------------------------------------------------


async def restore(cluster: Cluster, of: Json, hold: float = RESTORE_HOLD_S) -> Json:
    """A fresh engine in the group of an engine phase (`of`, its result): the
    changelog restore on assignment, and the work it redoes (none is expected)."""
    args = {**cluster.engine_args(of["group"], TopicSettings(**of["topics"])), "hold": hold}
    result = await run_child("bench.phases:restore_child", args)
    result["accounts_per_s"] = result["restored_accounts"] / max(result["restore_seconds"], 1e-9)
    return result


async def restore_child(args: Json) -> Json:
    engine = make_engine(args)
    tune_gc()
    began = time.perf_counter()
    await engine.start()
    runner = asyncio.create_task(engine.run())
    while not engine.ready:
        check_running(runner)
        await asyncio.sleep(0.01)
    ready = time.perf_counter() - began
    await asyncio.sleep(args["hold"])  # the committed offsets are at the end: nothing to redo
    metrics = engine.metrics
    result: Json = {
        "restore_seconds": metrics.restore_seconds, "restored_accounts": metrics.restored_accounts,
        "start_to_ready": ready, "events_after": metrics.events,
        "peak_rss_mb": peak_rss_mb(), "rss_mb": rss_now_mb(),
    }
    result["stop_seconds"] = await stop_engine(engine, runner)
    return result


# -- latency ---------------------------------------------------------------------------


def decided_ages(send_times: list[float], decided: list[list[float]]) -> list[tuple[float, float]]:
    """(when, age in ms) of each event when the engine had decided it, taking the
    k-th event decided (engine.metrics.events reaching k) as the k-th event sent:
    exact per partition, approximate across partitions (a fetch takes what each
    partition has, so the order across them shifts by up to a fetch's span)."""
    ages: list[tuple[float, float]] = []
    for at, count in decided:
        while len(ages) < min(int(count), len(send_times)):
            ages.append((at, (at - send_times[len(ages)]) * 1000))
    return ages


async def latency(cluster: Cluster, rate: int, seconds: float) -> Json:
    """Steady traffic at `rate` events/s for `seconds`, through an engine with the
    run's settings (the benchmark: the defaults but the event clock); offers read
    back by a consumer here."""
    topics = await cluster.fresh_topics("latency")
    plan = latency_events(rate, seconds)
    expected = expected_offers([line for line, _ in plan], cluster.partitions, cluster.rules)
    sent_at: dict[str, float] = {}
    send_times: list[float] = []  # of each event, in send order
    received: dict[str, tuple[float, float]] = {}  # offer_id -> (receive latency, stamp latency)
    # Timed offers (renewals, inactivity: caused_by "due:..."): made by the sweep when
    # an event moves the partition's clock past their due time, so no latency to an
    # event of theirs; counted against the replay's.
    received_timed: set[str] = set()
    duplicates = 0
    broker_share: list[float] = []

    consumer = AIOKafkaConsumer(
        bootstrap_servers=cluster.bootstrap, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=READER_FETCH_WAIT_MS,
    )
    # The project's own client for product apps: validates, keys by account,
    # acks=all, linger 5 ms.
    producer = EventProducer(cluster.bootstrap, topics.events)
    await consumer.start()
    await producer.__aenter__()
    stop_reading = asyncio.Event()

    async def read_offers() -> None:
        nonlocal duplicates
        tps = [TopicPartition(topics.offers, p) for p in range(cluster.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop_reading.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for record in records:
                    offer = orjson.loads(record.value)
                    if offer["caused_by"].startswith("due:"):
                        duplicates += offer["offer_id"] in received_timed
                        received_timed.add(offer["offer_id"])
                        continue
                    sent = sent_at.get(offer["caused_by"])
                    if sent is None:
                        continue
                    if offer["offer_id"] in received:
                        duplicates += 1
                        continue
                    received[offer["offer_id"]] = (now - sent, record.timestamp / 1000 - sent)

    try:
        args = cluster.engine_args(cluster.group("latency"), topics)
        async with Child("bench.phases:latency_child", args) as child:
            await child.message("ready")
            reader = asyncio.create_task(read_offers())
            await asyncio.sleep(0.5)  # the reader is positioned
            sent = 0
            started = time.perf_counter()
            window_end, broker_cpu = started + LATENCY_WINDOW_S, cluster.broker_cpu()
            while sent < len(plan):
                if time.perf_counter() >= window_end:  # the broker's CPU share, per window
                    now_cpu = cluster.broker_cpu()
                    broker_share.append((now_cpu - broker_cpu) / LATENCY_WINDOW_S)
                    window_end, broker_cpu = window_end + LATENCY_WINDOW_S, now_cpu
                due = min(len(plan), int((time.perf_counter() - started) * rate) + 1)
                while sent < due:
                    line, event_id = plan[sent]
                    sent_at[event_id] = now = time.time()
                    send_times.append(now)
                    await producer.send(line)
                    sent += 1
                await asyncio.sleep(0.002)
            send_seconds = time.perf_counter() - started
            await producer.flush()
            deadline = time.monotonic() + OFFERS_WAIT_S
            while ((len(received) < expected.by_events or len(received_timed) < expected.timed)
                   and time.monotonic() < deadline):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # late duplicates, if any
            stop_reading.set()
            await reader
            await child.stop()
            worker = await child.message("result")
    finally:
        await producer.__aexit__()
        await consumer.stop()
    ages = decided_ages(send_times, worker.pop("decided"))
    windows: dict[int, list[float]] = {}  # window of the run -> ages
    for at, age in ages:
        windows.setdefault(int(at // LATENCY_WINDOW_S), []).append(age)
    worker["age_ms"] = spread(age for _, age in ages)
    worker["age_p99_by_window"] = [spread(w)["p99"] for _, w in sorted(windows.items())]
    worker["checkpoint_ms"] = spread(worker["checkpoint_ms"])
    return {
        "rate": rate, "seconds": seconds, "events": sent, "send_seconds": send_seconds,
        "events_per_s": sent / send_seconds, "expected": expected.by_events, "received": len(received),
        "expected_timed": expected.timed, "received_timed": len(received_timed),
        "duplicates": duplicates, "window_s": LATENCY_WINDOW_S, "broker_share": broker_share,
        "receive_ms": spread(v[0] * 1000 for v in received.values()),
        "stamp_ms": spread(v[1] * 1000 for v in received.values()),
        "reader_fetch_wait_ms": READER_FETCH_WAIT_MS, "engine": worker,
    }


async def latency_child(args: Json) -> Json:
    """The engine until the parent writes `stop` on stdin.

    For the breakdown it samples the public metrics every 5 ms: when the count of
    events decided grows (the parent matches it against its send times), and the
    duration of each new checkpoint."""
    engine = make_engine(args)
    tune_gc()
    await engine.start()
    runner = asyncio.create_task(engine.run())
    while not (engine.ready and engine.stores):
        check_running(runner)
        await asyncio.sleep(0.01)
    cpu0 = time.process_time()
    emit(kind="ready")
    command = read_command()
    decided: list[tuple[float, int]] = []  # (time, metrics.events) whenever it grew
    checkpoint_ms: list[float] = []
    events_seen, checkpoints_seen = engine.metrics.events, engine.metrics.checkpoints
    while not command.done():
        check_running(runner)
        metrics = engine.metrics
        if metrics.events != events_seen:
            events_seen = metrics.events
            decided.append((time.time(), events_seen))
        if metrics.checkpoints != checkpoints_seen:
            checkpoints_seen = metrics.checkpoints
            checkpoint_ms.append(metrics.checkpoint_seconds * 1000)
        await asyncio.wait({command}, timeout=CHILD_POLL_S)
    metrics = engine.metrics
    if metrics.checkpoints != checkpoints_seen:  # one after the last poll
        checkpoint_ms.append(metrics.checkpoint_seconds * 1000)
    result: Json = {
        "events": metrics.events, "offers": engine_counts(engine)["offers"],
        "checkpoints": metrics.checkpoints, "last_checkpoint_seconds": metrics.checkpoint_seconds,
        "cpu": time.process_time() - cpu0, "peak_rss_mb": peak_rss_mb(),
        "decided": decided, "checkpoint_ms": checkpoint_ms,
    }
    result["stop_seconds"] = await stop_engine(engine, runner)
    return result
