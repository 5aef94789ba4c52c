"""Micro-benchmark of the decision core (not a test): `make bench-core`.

1M events over 100k accounts (bench/workload.py: setup, then 60 days of traffic
that exercises every kind of the example rules), in batches of 10k as the live
engine gets them. Each batch is decoded once (JSON bytes -> validated event,
timed), then decided three ways in the same process, the order rotating from
batch to batch so that the machine's noise falls on all of them alike:

  baseline     the engine's loop without the decision: the account's partition,
               the event's time, the account's state found or created
  before-time  the rules before issue 8 (bench/rules/before-time.yaml: no timed
               triggers, no history, no segments) ...
  rules        ... and examples/saas-rules.yaml, each through the steps the engine
               runs per record (streams/runtime/loop.py, triggers/timeline.py): 8
               partitions with a clock each; the clock moves to the event's time
               and the timers due by then fire, the event is applied, and what it
               made due fires

It prints events/s and us/event of each, the ratio of the two rule sets, peak
RSS, the bytes per account of each rule set's states (bench/state_size.py),
and the sweep's cost over 10k, 100k and 1M accounts with 1,000 due
(bench/sweep.py). `--profile FILE` decides the events once more with the
example rules under cProfile (slower) and prints the hot spots.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python bench/bench_core.py): import `bench` from the repo
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import cProfile
import gc
import pstats
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench import state_size, sweep
from bench.harness import Json, peak_rss_mb
from bench.workload import BEFORE_TIME_RULES, RULES, make_events, rule_book
from schemas.events import Event, decode_event
from streams.runtime.routing import home_partition
from streams.worker.tuning import tune_gc
from triggers import AccountState, RuleBook
from triggers.decide import NOTHING
from triggers.timeline import Timeline

CHUNK = 10_000  # decode and decide in batches, as the live engine does per fetch
PARTITIONS = 8  # as `make bench`'s topics: a clock and an index of due times each
SWEEP_SIZES = (10_000, 100_000, 1_000_000)
SWEEP_DUE = 1_000  # 1% of 100k
SWEEP_ROUNDS = 5


@dataclass
class Variant:
    """One way of deciding the events, with its own accounts (None: the baseline)."""

    name: str
    book: RuleBook | None
    partitions: int = PARTITIONS
    accounts: dict[str, AccountState] = field(default_factory=dict)
    seconds: float = 0.0
    sweep_seconds: float = 0.0  # of `seconds`: in the sweeps (the timers' wakes)
    offers: int = 0
    timed_offers: int = 0  # made by the sweep at a due time
    wakes: int = 0  # accounts woken by the sweep

    def __post_init__(self) -> None:
        book = self.book
        self.timelines = ([Timeline(book, self.accounts) for _ in range(self.partitions)]
                          if book is not None else [])

    def decide(self, events: list[Event]) -> None:
        started = time.perf_counter()
        if self.book is None:
            self._baseline(events)
        else:
            self._decide(events)
        self.seconds += time.perf_counter() - started

    def _baseline(self, events: list[Event]) -> None:
        accounts, partitions = self.accounts, self.partitions
        for event in events:
            account_id = event.account_id
            home_partition(account_id, partitions)
            event.occurred_at.timestamp()
            state = accounts.get(account_id)
            if state is None:
                state = accounts[account_id] = AccountState(account_id)

    def _decide(self, events: list[Event]) -> None:
        """The core's steps of Engine._process, record by record."""
        accounts, partitions, timelines = self.accounts, self.partitions, self.timelines
        offers = 0
        for event in events:
            account_id = event.account_id
            timeline = timelines[home_partition(account_id, partitions)]
            schedule = timeline.schedule
            now = event.occurred_at.timestamp()
            if now > schedule.clock:
                schedule.clock = now  # the timers due by this event's time fire first
                if schedule.has_due():
                    self._fire(timeline)
            state = accounts.get(account_id)
            if state is None:
                state = accounts[account_id] = AccountState(account_id)
            result = timeline.apply(state, event)
            if result is not NOTHING:
                offers += len(result.offers)
            if schedule.has_due():
                self._fire(timeline)  # what this event made due
        self.offers += offers

    def _fire(self, timeline: Timeline) -> None:
        started = time.perf_counter()
        woken = timeline.sweep()
        self.sweep_seconds += time.perf_counter() - started
        for _, result in woken:
            if isinstance(result, Exception):
                raise result  # a bug to see, not to time
            self.wakes += 1
            self.offers += len(result.offers)
            self.timed_offers += len(result.offers)


def decide_all(lines: list[bytes], variants: list[Variant]) -> float:
    """Decode the lines batch by batch and decide each batch with every variant, in
    an order that rotates; returns the seconds spent decoding."""
    decoding = 0.0
    for number, first in enumerate(range(0, len(lines), CHUNK)):
        started = time.perf_counter()
        events = [decode_event(line) for line in lines[first:first + CHUNK]]
        decoding += time.perf_counter() - started
        turn = number % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            variant.decide(events)
    return decoding


def run(events: int, accounts: int, sweep_sizes: Iterable[int] = SWEEP_SIZES,
        sweep_due: int = SWEEP_DUE, sweep_rounds: int = SWEEP_ROUNDS) -> Json:
    """Every figure of the report, as plain data."""
    new, old = rule_book(RULES), rule_book(BEFORE_TIME_RULES)
    lines = make_events(events, accounts)
    input_rss = peak_rss_mb()
    variants = [Variant("baseline", None), Variant("before-time", old), Variant("rules", new)]
    decoding = decide_all(lines, variants)
    peak = peak_rss_mb()
    figures: Json = {
        "events": len(lines), "accounts": accounts, "partitions": PARTITIONS,
        "rules": {"before-time": old.version, "rules": new.version},
        "input_rss_mb": input_rss, "peak_rss_mb": peak, "decode_s": decoding,
        "variants": {v.name: {"seconds": v.seconds, "sweep_seconds": v.sweep_seconds,
                              "offers": v.offers, "wakes": v.wakes,
                              "timed_offers": v.timed_offers, "accounts": len(v.accounts)}
                     for v in variants},
        "state_size": {v.name: state_size.state_sizes(v.accounts) for v in variants[1:]},
    }
    del variants
    gc.collect()
    figures["sweep"] = sweep.measure_sizes(new, list(sweep_sizes), sweep_due, sweep_rounds)
    return figures


def profile(events: int, accounts: int, path: str) -> pstats.Stats:
    """The example rules alone over the same events, under cProfile."""
    lines = make_events(events, accounts)
    variant = Variant("rules", rule_book(RULES))
    decoded = [decode_event(line) for line in lines]
    profiler = cProfile.Profile()
    profiler.runcall(variant.decide, decoded)
    profiler.dump_stats(path)
    return pstats.Stats(path)


# -- the report ------------------------------------------------------------------------


def rate_row(name: str, count: int, seconds: float, note: str) -> str:
    return (f"{name:<12} {count / seconds:>12,.0f} events/s  {seconds / count * 1e6:7.2f} us/event"
            f"  {note}")


def size_row(name: str, figures: Json) -> str:
    return (f"  {name:<17} mean {figures['mean']:6,.0f}  p50 {figures['p50']:6,.0f}  "
            f"p99 {figures['p99']:6,.0f}  max {figures['max']:6,.0f} bytes  "
            f"(all: {figures['total'] / 2**20:,.1f} MB)")


def render(figures: Json) -> str:
    count = figures["events"]
    runs = figures["variants"]
    base, old, new = runs["baseline"], runs["before-time"], runs["rules"]
    out = [
        f"{count:,} events over {figures['accounts']:,} accounts, {figures['partitions']} "
        f"partitions; rules {figures['rules']['rules']} (examples/saas-rules.yaml) and "
        f"{figures['rules']['before-time']} (bench/rules/before-time.yaml); "
        f"RSS with the input in memory {figures['input_rss_mb']:.0f} MB",
        rate_row("baseline", count, base["seconds"], "(partition, event time, state lookup; no "
                 "decision)"),
        rate_row("decode", count, figures["decode_s"], "(JSON bytes -> validated event)"),
        "the rules before issue 8 (before-time) and the example rules (rules), each through "
        "the engine's steps per record (clock, due timers, the event, what it made due):",
    ]
    for name in ("before-time", "rules"):
        run_ = runs[name]
        out.append(rate_row(name, count, run_["seconds"],
                            f"({run_['offers']:,} offers, {run_['timed_offers']:,} of them timed)"))
        if run_["wakes"]:
            sweeps = run_["sweep_seconds"]
            out.append(f"{'':<12} of which sweeps {sweeps / count * 1e6:.2f} us/event: "
                       f"{run_['wakes']:,} accounts woken, {sweeps / run_['wakes'] * 1e6:.1f} us each")
    decision_old = old["seconds"] - base["seconds"]
    decision_new = new["seconds"] - base["seconds"]
    events_old = old["seconds"] - old["sweep_seconds"]
    events_new = new["seconds"] - new["sweep_seconds"]
    decode = figures["decode_s"]
    out += [
        f"rules / before-time: x{new['seconds'] / old['seconds']:.2f} per event "
        f"({new['seconds'] / old['seconds'] - 1:+.0%}); the decision alone (minus the "
        f"baseline) x{decision_new / decision_old:.2f}; the events alone (sweeps not counted) "
        f"x{events_new / events_old:.2f}; with decoding "
        f"x{(new['seconds'] + decode) / (old['seconds'] + decode):.2f} "
        f"({(new['seconds'] + decode) / count * 1e6:.2f} vs "
        f"{(old['seconds'] + decode) / count * 1e6:.2f} us/event)",
        f"peak RSS {figures['peak_rss_mb']:.0f} MB (+{figures['peak_rss_mb'] - figures['input_rss_mb']:.0f} "
        "MB over the input; three sets of accounts are kept: the baseline's and each rule set's)",
        "",
        "bytes per account, encoded (triggers.state.encode_state) and as a changelog record "
        "(key + value, no Kafka overhead):",
    ]
    for name, sizes in figures["state_size"].items():
        out.append(size_row(f"{name} state", sizes["state"]))
        out.append(size_row(f"{name} record", sizes["record"]))
    out += ["", "sweep (example rules; accounts due per round, rounds timed one by one, "
                "the collector paused while timed):"]
    for size in figures["sweep"]:
        out.append(sweep_row(size))
    return "\n".join(out)


def sweep_row(size: Json) -> str:
    due, accounts = size["due"], size["accounts"]
    sweep_s, index_s = sorted(size["sweep_s"]), sorted(size["index_s"])
    median, low, high = sweep_s[len(sweep_s) // 2], sweep_s[0], sweep_s[-1]
    return (f"  {accounts:>9,} accounts, {due:,} due ({due / accounts:.1%}): sweep "
            f"{median * 1000:6.1f} ms = {median / due * 1e6:5.1f} us per due account "
            f"(rounds {low * 1000:.1f}-{high * 1000:.1f} ms); index alone "
            f"{index_s[len(index_s) // 2] / due * 1e6:.2f} us per due account; "
            f"reschedule {size['reschedule_s'] / accounts * 1e6:.1f} us per account "
            f"({size['reschedule_s']:.2f} s); has_due {size['has_due_s'] * 1e9:.0f} ns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--sweep-accounts", default=",".join(map(str, SWEEP_SIZES)),
                        help="comma-separated sizes for the sweep (empty: none)")
    parser.add_argument("--sweep-due", type=int, default=SWEEP_DUE)
    parser.add_argument("--sweep-rounds", type=int, default=SWEEP_ROUNDS)
    parser.add_argument("--profile", metavar="FILE",
                        help="also decide the events with the example rules under cProfile")
    args = parser.parse_args()
    tune_gc()  # as the engine does
    sizes = [int(size) for size in args.sweep_accounts.split(",") if size]
    figures = run(args.events, args.accounts, sizes, args.sweep_due, args.sweep_rounds)
    print(render(figures))
    if args.profile:
        print(f"\nprofiling the example rules into {args.profile} ...")
        stats = profile(args.events, args.accounts, args.profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
