"""Benchmark of the live engine on the embedded broker (not a test): `make bench`.

One run, one embedded broker, fresh topics per phase (8 partitions each), every
engine with examples/saas-rules.yaml and the event clock (harness.BENCH_ENGINE):

  1. prefill    500k events over 100k accounts (bench/workload.py: the setup of
                every account, then 60 days of traffic that exercises every kind
                of the rules), keyed and partitioned by account as producers send them
  2. ceiling    a bare aiokafka consumer over that topic, no work: the client's limit
  3. engine x1  one Engine (one worker process) over a fresh copy of those events
  4. engine x1 with the rules before issue 8 (bench/rules/before-time.yaml), the
                same way, right after: what the timed triggers, the history kinds
                and the segments cost, in one run (`--compare-rules ''`: skipped)
  5. engine x2  two Engines (two worker processes) in one fresh consumer group over
                another fresh copy: the design scales out by adding workers to the
                group, up to the partition count, and this machine has 2 cores
  6. restore    a fresh Engine in phase 3's group rebuilding the 100k accounts
                from the changelog on assignment
  7. latency    event-to-offer latency at a steady 2,000 events/s (sent with
                streams.cli.producer.EventProducer) with the engine's default
                settings but the event clock

Every measured side runs in a child process, so CPU and memory figures belong to
it alone; the engine is observed only through its public surface and the group's
committed offsets (bench/phases.py says how each phase measures). `--engine-start
live` produces while the workers run instead of while they are paused. Pass
`--profile FILE` to run phase 3 once more under cProfile (slower) and print the
hotspots. `--json FILE` saves the figures; `python -m bench.report FILE` prints
them again.

On the embedded broker the latency drifts up with the run's length: its fetch
cost grows with the number of record batches in a partition (BROKER_NOTES.md),
so the "per 5 s" rows show the trend, not only the totals.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python bench/bench_engine.py): import `bench` from the repo
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import os
import platform
import pstats
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench import phases, report
from bench.harness import PARTITIONS, Cluster, Json
from bench.workload import BEFORE_TIME_RULES, throughput_events
from streams.broker import EmbeddedBroker


@dataclass(frozen=True)
class Sizes:
    """How big a run is (the defaults: `make bench`)."""

    events: int = 500_000
    accounts: int = 100_000
    rate: int = 2_000  # latency phase, events/s
    latency_seconds: float = 20.0
    live: bool = False  # engine phases: produce while the workers run
    settle: float = phases.ASSIGNMENT_SETTLE_S
    restore_hold: float = phases.RESTORE_HOLD_S
    compare_rules: str | None = None  # also run engine x1 with these rules


def say(text: str) -> None:
    print(text, flush=True)


async def run_phases(
    cluster: Cluster, sizes: Sizes, lines: list[bytes], progress: Callable[[str], None] = say
) -> Json:
    """Every phase, in order, on one broker: their figures by phase name."""
    results: Json = {}
    total = len(lines)
    steps = 6 + (sizes.compare_rules is not None)
    step = iter(f"{n}/{steps}" for n in range(1, steps + 1))

    progress(f"{next(step)} prefill ...")
    filled = results["prefill"] = await phases.prefill(cluster, lines)
    progress(f"    {filled['events_per_s']:,.0f} events/s, {filled['batches']} batches")

    progress(f"{next(step)} ceiling: bare aiokafka consumer ...")
    ceiling = results["ceiling"] = await phases.ceiling(cluster, filled["topic"], total)
    progress(f"    {ceiling['events_per_s']:,.0f} events/s")

    engines: list[tuple[str, int, str | None]] = [("engine1", 1, None)]
    if sizes.compare_rules is not None:
        engines.append(("compare", 1, sizes.compare_rules))
    engines.append(("engine2", 2, None))
    for name, workers, rules in engines:
        progress(f"{next(step)} engine x{workers}: {workers} worker "
                 f"{report.plural(workers, 'process', 'es')} end to end"
                 + (f", rules {Path(rules).name}" if rules else "") + " ...")
        phase = results[name] = await phases.end_to_end(
            cluster, name, workers, lines, sizes.live, sizes.settle, rules=rules
        )
        match = phase["committed"] == phase["produced"]
        progress(f"    {phase['events_per_s']:,.0f} events/s ({phase['seconds']:.2f}s, "
                 f"group join {phase['join_seconds']:.1f}s not counted); committed offsets "
                 f"{'match' if match else 'DIFFER from'} the records produced")

    progress(f"{next(step)} state restore ...")
    restored = results["restore"] = await phases.restore(cluster, results["engine1"],
                                                         sizes.restore_hold)
    progress(f"    {restored['restored_accounts']:,} accounts in "
             f"{restored['restore_seconds']:.2f}s")

    progress(f"{next(step)} latency at {sizes.rate:,} events/s for {sizes.latency_seconds:.0f}s ...")
    results["latency"] = await phases.latency(cluster, sizes.rate, sizes.latency_seconds)
    return results


def meta_of(sizes: Sizes, cluster: Cluster, load_before: float) -> Json:
    """What the run was and where: the report's first row and its notes."""
    return {
        "cores": os.cpu_count() or 0, "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(), "partitions": cluster.partitions,
        **asdict(sizes), "engine_start": "live" if sizes.live else "paused",
        "latency_settings": (f"EngineSettings with {cluster.engine}" if cluster.engine
                             else "default EngineSettings"),
        "load_before": load_before,  # other work on the machine skews every figure
    }


async def bench(options: argparse.Namespace) -> Json:
    sizes = Sizes(options.events, options.accounts, options.rate, options.latency_seconds,
                  options.engine_start == "live", compare_rules=options.compare_rules or None)
    run = time.strftime("%H%M%S") + f"-{os.getpid()}"
    say(f"bench_engine: {os.cpu_count() or 0} cores ({len(os.sched_getaffinity(0))} usable), "
        f"Python {platform.python_version()}, {sizes.events:,} events over "
        f"{sizes.accounts:,} accounts, {PARTITIONS} partitions")
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure
    generated = time.perf_counter()
    lines = throughput_events(sizes.events, sizes.accounts)
    say(f"  generated {len(lines):,} events in {time.perf_counter() - generated:.1f}s")

    with EmbeddedBroker() as broker:
        cluster = Cluster.of(broker, run)
        meta = meta_of(sizes, cluster, load_before)
        say(f"  embedded broker at {cluster.bootstrap} (pid {cluster.broker_pid}), "
            f"started in {broker.startup_seconds:.2f}s")
        results = await run_phases(cluster, sizes, lines)

    if options.profile:
        say(f"\nprofiling engine x1 into {options.profile} ...")
        with EmbeddedBroker() as broker:
            profiled = await phases.end_to_end(
                Cluster.of(broker, run), "profile", 1, lines, sizes.live,
                profile=str(Path(options.profile).resolve()),
            )
        results["profile"] = {"events_per_s": profiled["events_per_s"],
                              "seconds": profiled["seconds"], "file": options.profile}
        print(f"  under cProfile: {profiled['events_per_s']:,.0f} events/s (inflated times)")
        stats = pstats.Stats(options.profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)

    meta["load_after"] = os.getloadavg()[0]
    return {"meta": meta, "phases": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Sizes()
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--accounts", type=int, default=defaults.accounts)
    parser.add_argument("--rate", type=int, default=defaults.rate, help="latency phase events/s")
    parser.add_argument("--latency-seconds", type=float, default=defaults.latency_seconds)
    parser.add_argument("--engine-start", choices=("paused", "live"), default="paused",
                        help="engine phases: produce while the workers are paused (default) "
                             "or while they run")
    parser.add_argument("--compare-rules", metavar="FILE", default=str(BEFORE_TIME_RULES),
                        help="also run engine x1 with these rules (default: the rules before "
                             "issue 8; '': skip)")
    parser.add_argument("--profile", metavar="FILE", help="also run engine x1 under cProfile")
    parser.add_argument("--json", metavar="FILE",
                        help="save the figures (python -m bench.report FILE prints them again)")
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        results = asyncio.run(bench(options))
        if options.json:
            report.save(results, options.json)
        print(report.render(results))


if __name__ == "__main__":
    main()
