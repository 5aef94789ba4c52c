"""Micro-benchmark of the decision core (not a test): `make bench-core`.

1M events over 100k accounts, in batches of 10k as the live engine gets them,
timed three ways in the same run:
  baseline   the loop without the decision (find the account's state only)
  decode     JSON bytes -> validated event
  evaluate   the decision core on the decoded events
Prints events/s, per-event microseconds and peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from schemas.events import decode_event
from schemas.rules_file import load_rules
from streams.worker.tuning import tune_gc
from triggers import AccountState, RuleBook, evaluate

RULES = Path(__file__).resolve().parent.parent / "examples" / "saas-rules.yaml"


def make_events(count: int, accounts: int, seed: int = 1) -> list[bytes]:
    """A subscription per account, then usage-heavy traffic as products send it."""
    rnd = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    lines = []
    for n in range(accounts):
        lines.append(bytes(memoryview(orjson.dumps({
            "event_id": f"s-{n}", "account_id": f"acct-{n}", "type": "subscription",
            "occurred_at": start.isoformat(), "plan": rnd.choice(["basic", "basic", "pro"]),
            "started_at": "2025-01-15T00:00:00Z",
        }))))
    seats = [rnd.randint(1, 8) for _ in range(accounts)]
    step = timedelta(days=60) / count
    for n in range(count - accounts):
        account = rnd.randrange(accounts)
        at = (start + step * n).isoformat()
        roll = rnd.random()
        body: dict[str, object]
        if roll < 0.45:
            seats[account] = max(1, seats[account] + rnd.choice([-1, 1, 1]))
            body = {"type": "usage", "metric": "seats", "value": seats[account]}
        elif roll < 0.9:
            body = {"type": "usage", "metric": "api_calls", "delta": rnd.randint(1, 400)}
        elif roll < 0.95:
            body = {"type": "usage", "metric": "storage_gb", "value": rnd.uniform(1, 60)}
        elif roll < 0.97:
            body = {"type": "feature_gate", "feature": "advanced_analytics"}
        elif roll < 0.99:
            body = {"type": "milestone", "name": "project_completed"}
        else:
            body = {"type": "nps", "score": rnd.randint(0, 10)}
        event = {"event_id": f"e-{n}", "account_id": f"acct-{account}", "occurred_at": at, **body}
        # bytes(memoryview(...)): a copy of exactly the right size; an orjson
        # result keeps ~4 KB allocated, which would dwarf what is measured.
        lines.append(bytes(memoryview(orjson.dumps(event))))
    return lines


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, count: int, seconds: float, extra: str = "") -> None:
    print(f"{name:<10} {count / seconds:>12,.0f} events/s  {seconds / count * 1e6:6.2f} us/event"
          f"  {extra}")


CHUNK = 10_000  # decode and decide in batches, as the live engine does per fetch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    tune_gc()  # as the engine does

    book = RuleBook.compile(load_rules(RULES))
    lines = make_events(args.events, args.accounts)
    input_rss = peak_rss_mb()
    print(f"{len(lines):,} events over {args.accounts:,} accounts; rules {book.version}; "
          f"RSS with the input in memory {input_rss:.0f} MB")

    timings = {"baseline": 0.0, "decode": 0.0, "evaluate": 0.0}
    baseline_states: dict[str, AccountState] = {}
    states: dict[str, AccountState] = {}
    offers = 0
    for first in range(0, len(lines), CHUNK):
        chunk = lines[first:first + CHUNK]
        started = time.perf_counter()
        events = [decode_event(line) for line in chunk]
        decoded = time.perf_counter()
        for event in events:
            state = states.get(event.account_id)
            if state is None:
                state = states[event.account_id] = AccountState(event.account_id)
            offers += len(evaluate(state, event, book).offers)
        evaluated = time.perf_counter()
        for event in events:  # the same loop without the decision
            state = baseline_states.get(event.account_id)
            if state is None:
                state = baseline_states[event.account_id] = AccountState(event.account_id)
        timings["baseline"] += time.perf_counter() - evaluated
        timings["decode"] += decoded - started
        timings["evaluate"] += evaluated - decoded

    count = len(lines)
    report("baseline", count, timings["baseline"], "(loop and state lookup, no decision)")
    report("decode", count, timings["decode"], "(JSON bytes -> validated event)")
    report("evaluate", count, timings["evaluate"], f"(the decision core; {offers:,} offers)")
    report("both", count, timings["decode"] + timings["evaluate"], "(decode + evaluate)")
    print(f"peak RSS {peak_rss_mb():.0f} MB with {len(states):,} account states "
          f"(+{peak_rss_mb() - input_rss:.0f} MB over the input; two sets of states are kept: "
          "the decided ones and the baseline's)")


if __name__ == "__main__":
    main()
