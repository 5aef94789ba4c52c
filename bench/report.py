"""The engine benchmark's table, from the figures its phases returned.

`python -m bench.report FILE` prints a run saved with `bench_engine.py --json FILE`
again. The figures are computed by the phases (bench/phases.py); this only lays
them out, with ratios between phases and the targets.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

Json = dict[str, Any]

TARGET_EVENTS_PER_S = 100_000  # end to end, a phase's whole group
TARGET_P99_MS = 250.0  # event -> offer received
WIDTH = 100


def load(path: str | Path) -> Json:
    """A run saved by `bench_engine.py --json` (stdlib json: NaN is kept)."""
    results: Json = json.loads(Path(path).read_text())
    return results


def save(results: Json, path: str | Path) -> None:
    Path(path).write_text(json.dumps(results, indent=1) + "\n")


def plural(count: int, word: str, suffix: str = "s") -> str:
    return word + (suffix if count > 1 else "")


def spread(figures: Json) -> str:
    """A phase's spread of milliseconds (harness.spread)."""
    return (f"p50 {figures['p50']:.0f} ms  p95 {figures['p95']:.0f} ms  "
            f"p99 {figures['p99']:.0f} ms  max {figures['max']:.0f} ms")


def engine_phases(phases: Json) -> list[Json]:
    """The engine xN phases of a run, by N."""
    found = [phase for name, phase in phases.items() if name.startswith("engine")]
    return sorted(found, key=lambda phase: int(phase["workers"]))


def engine_rows(
    phase: Json, ceiling_rate: float, cores: int, label: str | None = None
) -> list[tuple[str, str]]:
    workers, total = phase["workers"], phase["events_sent"]
    rate, seconds, cpu = phase["events_per_s"], phase["seconds"], phase["cpu"]
    used = min(workers, cores)
    checkpoints = phase["checkpoint_ms"]
    rss = [w["peak_rss_mb"] for w in phase["per_worker"]]
    match = phase["committed"] == phase["produced"]
    resumed = phase["start"] == "resume"
    rows = [
        (label or f"engine x{workers}", f"{rate:,.0f} events/s ({seconds:.2f}s, {workers} worker "
                               f"{plural(workers, 'process', 'es')}, "
                               f"{'resumed' if resumed else 'first batch decided'}"
                               " -> last offsets committed)"),
        ("  ratio to ceiling", f"{rate / ceiling_rate:.0%}"),
        ("  CPU", f"{cpu:.2f}s = {cpu / total * 1e6:.1f} us/event "
                  f"({cpu / seconds / used:.0%} of {used} {plural(used, 'core')}); "
                  f"broker {phase['broker_cpu']:.2f}s ({phase['broker_cpu'] / seconds:.0%} of a core)"),
        ("  peak RSS", " + ".join(f"{mb:,.0f}" for mb in rss) + " MB"
                       + (f" = {sum(rss):,.0f} MB" if workers > 1 else "")
                       + f" with {phase['accounts']:,.0f} accounts"),
    ]
    if workers > 1:
        for n, worker in enumerate(phase["per_worker"], 1):
            rows.append((f"  worker {n}", f"partitions {','.join(map(str, worker['partitions']))}: "
                                          f"{worker['events']:,} events, CPU {worker['cpu']:.2f}s "
                                          f"({worker['cpu'] / seconds:.0%} of a core), "
                                          f"peak RSS {worker['peak_rss_mb']:,.0f} MB"))
    rows += [
        ("  work", f"{phase['offers']:,.0f} offers, {phase['checkpoints']} checkpoints "
                   f"(p50 {checkpoints['p50']:.0f} ms, max {checkpoints['max']:.0f} ms), "
                   f"{phase['changelog_records']:,.0f} changelog records, "
                   f"{phase['invalid']:.0f} invalid, {phase['forwarded']:.0f} forwarded"),
        ("  committed offsets", f"{sum(phase['committed']):,} of {total:,} "
                                f"({'all' if match else 'MISMATCH'}); {phase['events']:,} events "
                                f"decided, {phase['reassigned']} reassignments in the window"),
        ("  not counted", f"group join {phase['join_seconds']:.1f}s + {phase['settle_seconds']:g}s "
                          f"settle, fill {phase['fill_seconds']:.2f}s"
                          + (" (workers paused)" if resumed else " (overlapping)")),
        ("  first batch decided", f"{phase['first_decided_after']:.2f}s after the "
                                  f"{'resume' if resumed else 'fill began'}; "
                                  f"end taken from the {phase['end_by']} "
                                  f"(offsets poll saw it {phase['poll_lag'] * 1000:.0f} ms later)"),
    ]
    return rows


def compare_rows(
    phase: Json, compare: Json, ceiling_rate: float, cores: int
) -> list[tuple[str, str]]:
    """engine x1 with other rules (the rules before issue 8), and how the two compare."""
    rules = Path(compare["rules"]).name
    rows = engine_rows(compare, ceiling_rate, cores, f"engine x1, {rules}")
    rate, other = phase["events_per_s"], compare["events_per_s"]
    cpu = phase["cpu"] / phase["events_sent"] * 1e6
    cpu_other = compare["cpu"] / compare["events_sent"] * 1e6
    rows.append(("  engine x1 vs " + rules,
                 f"{rate / other:.0%} of its events/s ({rate / other - 1:+.1%}); CPU per event "
                 f"{cpu:.1f} vs {cpu_other:.1f} us ({cpu / cpu_other - 1:+.1%}); of the ceiling "
                 f"{rate / ceiling_rate:.0%} vs {other / ceiling_rate:.0%}"))
    return rows


def rows_of(results: Json) -> list[tuple[str, str]]:
    meta, phases = results["meta"], results["phases"]
    filled, ceiling = phases["prefill"], phases["ceiling"]
    restored, latency = phases["restore"], phases["latency"]
    engine = latency["engine"]
    rows: list[tuple[str, str]] = [
        ("machine", f"{meta['cores']} cores, Python {meta['python']}, embedded Tansu broker; "
                    f"1-min load average {meta['load_before']:.2f} before the run, "
                    f"{meta['load_after']:.2f} at the end"),
        ("prefill", f"{filled['events']:,} events / {meta['accounts']:,} accounts, "
                    f"{filled['bytes'] / 2**20:.0f} MB in {filled['seconds']:.2f}s = "
                    f"{filled['events_per_s']:,.0f} events/s"),
        ("ceiling (aiokafka, no work)", f"{ceiling['events_per_s']:,.0f} events/s "
                                        f"({ceiling['seconds']:.2f}s, CPU {ceiling['cpu']:.2f}s, "
                                        "one consumer)"),
    ]
    for phase in engine_phases(phases):
        rows += engine_rows(phase, ceiling["events_per_s"], meta["cores"])
        if phase["workers"] == 1 and "compare" in phases:
            rows += compare_rows(phase, phases["compare"], ceiling["events_per_s"], meta["cores"])
    rows += [
        ("state restore", f"{restored['restored_accounts']:,} accounts in "
                          f"{restored['restore_seconds']:.2f}s = "
                          f"{restored['accounts_per_s']:,.0f} accounts/s"),
        ("  start -> ready", f"{restored['start_to_ready']:.2f}s (group join "
                            f"{restored['start_to_ready'] - restored['restore_seconds']:.1f}s + restore), "
                            f"peak RSS {restored['peak_rss_mb']:,.0f} MB, "
                            f"{restored['events_after']} events redone"),
        ("latency load", f"{latency['events']:,} events in {latency['send_seconds']:.1f}s = "
                         f"{latency['events_per_s']:,.0f} events/s, "
                         f"{meta.get('latency_settings', 'default EngineSettings')}"),
        ("  offers", f"{latency['received']:,} received of {latency['expected']:,} expected, "
                     f"and {latency['received_timed']:,} timed of {latency['expected_timed']:,} "
                     f"(the sweep's), {latency['duplicates']} duplicates; engine CPU "
                     f"{engine['cpu']:.1f}s, {engine['checkpoints']} checkpoints"),
        ("  event -> offer received", spread(latency["receive_ms"])
         + f" ({latency['receive_ms']['count']:,} offers)"),
        ("  event -> offer record time", spread(latency["stamp_ms"])
         + " (when the engine wrote the offer)"),
        ("  event age when decided", spread(engine["age_ms"])
         + " (k-th event sent -> metrics.events reaching k, all events; approx.)"),
        (f"  event age p99 per {latency['window_s']} s",
         "  ".join(f"{v:.0f}" for v in engine["age_p99_by_window"])
         + " ms (does it grow as the partitions fill?)"),
        (f"  broker CPU per {latency['window_s']} s",
         "  ".join(f"{v:.0%}" for v in latency["broker_share"]) + " of one core"),
        ("  engine checkpoints", spread(engine["checkpoint_ms"])
         + f" (metrics.checkpoint_seconds: start -> durable; {engine['checkpoint_ms']['count']}"
         f" seen of {engine['checkpoints']})"),
    ]
    return rows


def notes_of(results: Json) -> list[str]:
    meta, phases = results["meta"], results["phases"]
    engines = engine_phases(phases)
    total = engines[0]["events_sent"] if engines else meta["events"]
    settle = engines[0]["settle_seconds"] if engines else 1.0
    poll_ms = engines[0]["offsets_poll_ms"] if engines else 20.0
    live = meta["engine_start"] == "live"
    fill = (f"the workers are paused (SIGSTOP), the {total:,} events produced, and the workers "
            "resumed (SIGCONT), so the producer does not compete with them for the cores. Time: "
            "from the resume (so it includes the first fetch)"
            if not live else
            f"the {total:,} events are produced while the workers run (the producer competes "
            "with them for the cores). Time: from the first batch a worker has decided (5 ms poll "
            "of metrics.events)")
    return [
        f"ceiling: one aiokafka consumer assigned all {meta['partitions']} partitions, from its "
        "first non-empty fetch to its last record; aiokafka's record parsing only, no JSON, no work",
        "engine xN: N worker processes (an Engine each) join a fresh group on a fresh, empty topic "
        f"(not counted); once every partition has been held for {settle:g}s, {fill} to the end "
        "of the checkpoint committing the last offsets: the latest metrics.last_checkpoint_at of "
        f"the workers, checked against the group's committed offsets polled every {poll_ms:.0f} ms "
        "(the poll's time if they disagree). Only the engine's public surface is read: ready, "
        "stores, metrics and its /metrics counters",
        "engine xN CPU: user+system of the workers (and of the broker) from /proc over that "
        "window; peak RSS: each worker's VmHWM; checkpoints: metrics.checkpoint_seconds (start -> "
        "durable, may overlap deciding) sampled every 5 ms",
        f"ratio to ceiling: against the one-consumer ceiling. The {TARGET_EVENTS_PER_S // 1000}k "
        "events/s target applies to a phase's whole group; 2 workers is what this 2-core machine "
        "runs in parallel",
        "rules: examples/saas-rules.yaml, with every engine on the event clock (the events are "
        "dated 2026: in wall mode a caught-up partition would fire every timer at once); engine "
        "x1, before-time.yaml: the same phase, right after engine x1, with the rules before "
        "issue 8 (no timed triggers, history kinds or segments)",
        "restore: metrics.restore_seconds of a fresh Engine joining engine x1's group",
        f"latency: offers read by a consumer in this process "
        f"({phases['latency']['reader_fetch_wait_ms']} ms fetch wait); event age: this "
        "process's send times against the engine's metrics.events sampled every 5 ms",
        "percentiles: statistics.quantiles (inclusive method) of every measurement",
    ]


def render(results: Json) -> str:
    rows = rows_of(results)
    width = max(len(name) for name, _ in rows)
    out = ["", "=" * WIDTH]
    out += [f"{name:<{width}}  {value}" for name, value in rows]
    out += ["-" * WIDTH, "how the figures are measured:"]
    out += [textwrap.fill(note, WIDTH, initial_indent="  - ", subsequent_indent="    ")
            for note in notes_of(results)]
    out.append("-" * WIDTH)
    for phase in engine_phases(results["phases"]):
        rate = phase["events_per_s"]
        out.append(f"target: >= {TARGET_EVENTS_PER_S:,} events/s end to end, "
                   f"engine x{phase['workers']}: {rate:,.0f} -> "
                   f"{'met' if rate >= TARGET_EVENTS_PER_S else 'NOT MET'}")
    latency = results["phases"]["latency"]
    p99 = latency["receive_ms"]["p99"]
    met = p99 < TARGET_P99_MS and latency["received"] == latency["expected"]
    out.append(f"target: p99 event -> offer < {TARGET_P99_MS:.0f} ms: {p99:.0f} ms -> "
               f"{'met' if met else 'NOT MET'}")
    out.append("=" * WIDTH)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="a run saved with bench_engine.py --json FILE")
    print(render(load(parser.parse_args().file)))


if __name__ == "__main__":
    main()
