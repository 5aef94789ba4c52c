"""What every phase of the engine benchmark stands on: the broker and topics of a
run, producing events, engines in child processes, and measuring them.

A child process is `python -m bench.child MODULE:FUNCTION JSON`: it runs that
coroutine function on the JSON arguments and reports its result as a JSON line
on stdout (each protocol line starts with MARK; anything else it prints is passed
on to stderr). The parent drives it with lines on its stdin (`Child.send`) and
with signals (SIGSTOP/SIGCONT), and reads its CPU time from /proc, so CPU and
memory figures belong to the child alone.

Engines are observed only through their public surface: `ready`, `stores` (which
partitions it holds), `metrics` and the /metrics text it renders.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.workload import RULES, rule_book
from streams.broker import EmbeddedBroker
from streams.runtime.loop import Engine
from streams.runtime.outputs import BatchWriter
from streams.runtime.routing import home_partition
from streams.runtime.settings import EngineSettings, TopicSettings
from streams.runtime.topics import ensure_topics
from streams.worker.metrics import render_metrics

PARTITIONS = 8
# Record batches of the events the benchmark produces. 256 KiB, as the engine's own
# producer had when the figures in README.md were first taken (it now has 1 MiB):
# the number of record batches in a partition sets the embedded broker's fetch cost.
PRODUCE_BATCH_BYTES = 256 * 1024
# EngineSettings every engine of the benchmark runs with (a run's own settings
# are laid over them). The event clock: the simulated events are dated 2026, and
# in `wall` mode (the default live) a partition that has caught up takes the
# wall clock of the day the benchmark runs, which would fire at once every timer
# of every account (renewals, inactivity), offers no replay predicts. In `event`
# mode the engine gives what the offline replay gives, which the phases check.
BENCH_ENGINE: dict[str, Any] = {"clock": "event"}
MARK = "@@bench "  # prefix of the child's protocol lines on stdout
REPO = Path(__file__).resolve().parent.parent
PHASE_TIMEOUT_S = 180.0
OFFSETS_POLL_S = 0.02  # the group's committed offsets, while an engine phase runs
CHILD_POLL_S = 0.005  # a child's look at its engine's metrics

Json = dict[str, Any]


# -- measuring -------------------------------------------------------------------------


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
    """user + system CPU of another process (a child, the broker), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spread(values: Iterable[float]) -> Json:
    """count, p50, p95, p99 and max of some measurements (statistics.quantiles,
    inclusive: the values are the whole population measured); NaN when there are none."""
    ordered = sorted(values)
    if len(ordered) < 2:
        only = ordered[0] if ordered else math.nan
        return {"count": len(ordered), "p50": only, "p95": only, "p99": only, "max": only}
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"count": len(ordered), "p50": cuts[49], "p95": cuts[94], "p99": cuts[98],
            "max": ordered[-1]}


# -- the broker and topics of a run ----------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """The broker a run uses, and the names that keep its phases apart: every phase
    gets fresh topics (8 partitions) and a fresh group."""

    bootstrap: str
    broker_pid: int
    run: str  # unique per run
    # EngineSettings fields for every engine the run starts (the benchmark:
    # BENCH_ENGINE, else the defaults; the smoke test also shortens the group's
    # session timeout).
    engine: Json = field(default_factory=lambda: dict(BENCH_ENGINE))
    partitions: int = PARTITIONS
    rules: str = str(RULES)  # the rules file every engine runs

    @classmethod
    def of(cls, broker: EmbeddedBroker, run: str, engine: Json | None = None) -> Cluster:
        assert broker.pid is not None
        return cls(broker.bootstrap_servers, broker.pid, run, {**BENCH_ENGINE, **(engine or {})})

    def topics(self, phase: str) -> TopicSettings:
        prefix = self.group(phase)
        return TopicSettings(
            events=f"{prefix}-events", offers=f"{prefix}-offers", dlq=f"{prefix}-dlq",
            changelog=f"{prefix}-changelog", partitions=self.partitions,
        )

    def group(self, phase: str) -> str:
        return f"bench-{self.run}-{phase}"

    async def fresh_topics(self, phase: str) -> TopicSettings:
        topics = self.topics(phase)
        await ensure_topics(self.bootstrap, topics, {})
        return topics

    def broker_cpu(self) -> float:
        return proc_cpu_seconds(self.broker_pid)

    def engine_args(self, group: str, topics: TopicSettings, rules: str | None = None) -> Json:
        """What a child needs to build an engine (see `make_engine`); `rules`: another
        rules file than the run's."""
        return {"bootstrap": self.bootstrap, "group": group, "topics": topics.model_dump(),
                "engine": self.engine, "rules": rules or self.rules}


async def produce(bootstrap: str, topic: str, lines: list[bytes], partitions: int) -> Json:
    """Produce JSON events keyed by account, each on its account's home partition,
    in full record batches (streams.runtime.outputs.BatchWriter, as the engine
    writes its own output), and wait until every batch is acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=PRODUCE_BATCH_BYTES,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        writer = BatchWriter(producer)
        counts = [0] * partitions
        for line in lines:
            account_id: str = orjson.loads(line)["account_id"]
            partition = home_partition(account_id, partitions)
            writer.write(topic, partition, account_id.encode(), line)
            counts[partition] += 1
        await writer.send()
        delivered = writer.take_in_flight()
        await asyncio.gather(*(delivery.future for delivery in delivered))
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"events": len(lines), "seconds": seconds, "events_per_s": len(lines) / seconds,
            "counts": counts, "batches": len(delivered), "bytes": sum(len(line) for line in lines)}


# -- child side ------------------------------------------------------------------------


def emit(**message: Any) -> None:
    """One protocol line to the parent. stdlib json: NaN (a figure not measured) survives."""
    sys.stdout.write(MARK + json.dumps(message) + "\n")
    sys.stdout.flush()


def read_command() -> asyncio.Future[str]:
    """The parent's next line on stdin. Read on a daemon thread, not the loop's executor:
    asyncio.run() would wait for that thread at exit if the engine failed meanwhile."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(line: str) -> None:
        if not future.done():
            future.set_result(line)

    def read() -> None:
        line = sys.stdin.readline()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(deliver, line)

    threading.Thread(target=read, daemon=True).start()
    return future


def make_engine(args: Json) -> Engine:
    """An engine from `Cluster.engine_args`: default EngineSettings but for the group,
    the topics and the run's overrides, and the run's rules."""
    settings = EngineSettings(group_id=args["group"], topics=TopicSettings(**args["topics"]),
                              **args.get("engine", {}))
    return Engine(settings, rule_book(args.get("rules", RULES)), args["bootstrap"])


async def stop_engine(engine: Engine, runner: asyncio.Task[None]) -> float:
    """Stop the engine and wait for its run(); the seconds that took."""
    started = time.perf_counter()
    await engine.stop()
    await asyncio.wait_for(runner, 30)  # run() returns once stop() is set
    return time.perf_counter() - started


def check_running(runner: asyncio.Task[None]) -> None:
    if runner.done():
        runner.result()  # raises what stopped it
        raise RuntimeError("the engine's run() returned before it was stopped")


def assignment(engine: Engine) -> tuple[bool, list[int]]:
    """Whether the engine is ready, and the partitions it holds."""
    return engine.ready, sorted(engine.stores)


# Each figure's Prometheus sample name and the labels it is selected by (summed over the rest).
METRIC_NAMES: dict[str, tuple[str, dict[str, str]]] = {
    "offers": ("upsell_offers_total", {}),
    "changelog_records": ("upsell_changelog_records_total", {}),
    "invalid": ("upsell_dead_letters_total", {}),
    "forwarded": ("upsell_events_total", {"outcome": "forwarded"}),
    "duplicates": ("upsell_events_total", {"outcome": "duplicate"}),
    "replayed": ("upsell_events_total", {"outcome": "replayed"}),
    "accounts": ("upsell_accounts", {}),
}


def engine_counts(engine: Engine) -> dict[str, float]:
    """The engine's counters as it exposes them on /metrics (labels summed): the
    Prometheus names are its contract with dashboards, steadier than the fields.
    0 for a family with no samples yet (no offers), NaN for a metric the engine
    no longer has."""
    engine.refresh_gauges()  # as the worker does before rendering /metrics
    book = engine.book
    text = render_metrics(engine.metrics, book.version,
                          [trigger.id for trigger in book.rules.triggers], engine.ready)
    families = list(text_string_to_metric_families(text.decode()))
    declared = {sample_name for family in families
                for sample_name in (family.name, f"{family.name}_total")}
    counts: dict[str, float] = {}
    for key, (name, labels) in METRIC_NAMES.items():
        counts[key] = math.nan if name not in declared else sum(
            sample.value for family in families for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )
    return counts


# -- parent side -----------------------------------------------------------------------


class Child:
    """A child process running `target` ("module:function") on `args`."""

    def __init__(self, target: str, args: Json) -> None:
        self.target = target
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.latest: dict[str, Json] = {}  # kind -> the last message of that kind
        self._inbox: asyncio.Queue[Json | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.child", self.target, json.dumps(self.args),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
            limit=64 * 2**20,  # a result line carries per-event figures
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.kill()  # also ends a child left paused
        if proc is not None:
            await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            code = None if self.proc is None else self.proc.returncode
            raise RuntimeError(f"{self.target}: child exited ({code})")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode()
            if not text.startswith(MARK):
                sys.stderr.write(text)
                continue
            message: Json = json.loads(text[len(MARK):])
            self.latest[message["kind"]] = message
            await self._inbox.put(message)
        await self._inbox.put(None)

    async def message(self, kind: str, timeout: float = PHASE_TIMEOUT_S) -> Json:
        """The child's next message of this kind (earlier ones of other kinds are dropped)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.target}: no '{kind}' from the child in {timeout:.0f}s")
            try:
                message = await asyncio.wait_for(self._inbox.get(), remaining)
            except TimeoutError:
                continue  # reported above
            if message is None:
                self._inbox.put_nowait(None)  # for the next caller too
                code = await self.proc.wait()
                raise RuntimeError(f"{self.target}: child exited ({code}) before '{kind}'")
            if message.get("kind") == kind:
                return message

    async def send(self, command: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        await self.send("stop")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)


async def run_child(target: str, args: Json) -> Json:
    """Run a child to its result."""
    async with Child(target, args) as child:
        return await child.message("result")


class GroupOffsets:
    """The group's committed offsets on a topic, one OffsetFetch for all partitions."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        self.group = group
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._coordinator: int | None = None

    async def __aenter__(self) -> GroupOffsets:
        await self._admin.start()
        self._coordinator = await self._admin.find_coordinator(self.group)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._admin.close()

    async def fetch(self) -> list[int]:
        found = await self._admin.list_consumer_group_offsets(
            self.group, self._coordinator, self.partitions
        )
        return [max(0, found[tp].offset) if tp in found else 0 for tp in self.partitions]

    async def wait_for(self, counts: list[int], timeout: float) -> tuple[list[int], float]:
        """Poll until every partition's committed offset reaches its count:
        (the offsets, when they were seen)."""
        deadline = time.monotonic() + timeout
        while True:
            offsets = await self.fetch()
            seen = time.time()
            if all(o >= c for o, c in zip(offsets, counts, strict=True)):
                return offsets, seen
            if time.monotonic() > deadline:
                raise TimeoutError(f"committed offsets {offsets} short of {counts} "
                                   f"after {timeout:.0f}s")
            await asyncio.sleep(OFFSETS_POLL_S)


async def wait_assigned(
    children: list[Child], partitions: int, settle: float, timeout: float = PHASE_TIMEOUT_S
) -> float:
    """Wait until the children (engine workers reporting `assignment` messages) are
    ready and hold every partition between them, unchanged for `settle` seconds;
    returns the seconds until that began."""
    began = time.monotonic()
    held_since: float | None = None
    while True:
        for child in children:
            child.check_alive()
        states = [child.latest.get("assignment") for child in children]
        held = [p for s in states if s and s["ready"] for p in s["partitions"]]
        complete = (all(s and s["ready"] and s["partitions"] for s in states)
                    and sorted(held) == list(range(partitions)))
        now = time.monotonic()
        if not complete:
            held_since = None
        elif held_since is None:
            held_since = now
        elif now - held_since >= settle:
            return held_since - began
        if now - began > timeout:
            raise TimeoutError(f"engine workers not assigned every partition in {timeout:.0f}s: "
                               f"{states}")
        await asyncio.sleep(0.02)
