"""The events the engine benchmark sends, and what the decision core makes of them.

The throughput phases send `bench_core.make_events` (a subscription per account,
then usage-heavy traffic); the latency phase sends a steady mix of that traffic
and accounts made to fire an offer, and knows from an offline replay how many
offers to wait for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from bench.bench_core import RULES, make_events
from schemas.events import decode_event
from schemas.rules_file import load_rules
from triggers import RuleBook
from triggers.table import AccountTable

LATENCY_BACKGROUND_ACCOUNTS = 5_000


def rule_book() -> RuleBook:
    """The rules every benchmark runs (examples/saas-rules.yaml)."""
    return RuleBook.compile(load_rules(RULES))


def compact(lines: list[bytes]) -> list[bytes]:
    """The same lines, cut from one buffer: each orjson.dumps result alone holds ~4 KB,
    which would dwarf what a phase measures."""
    return b"\n".join(lines).split(b"\n")


def throughput_events(events: int, accounts: int) -> list[bytes]:
    """`events` JSON events over `accounts` accounts, in the order they are produced."""
    return compact(make_events(events, accounts))


def latency_events(
    rate: int, seconds: float, background_accounts: int = LATENCY_BACKGROUND_ACCOUNTS
) -> list[tuple[bytes, str]]:
    """Steady traffic in which 3 events in 20 belong to a fresh account whose seats
    go 7 then 8 of its Basic plan's 10 (the seats-80 trigger): ~100 offers/s at
    2,000 events/s on top of what the background traffic (bench_core.make_events)
    fires by itself. Returns (json line, event_id) in send order."""
    total = int(rate * seconds)
    groups = total // 20
    background = iter(make_events(groups * 17, background_accounts, seed=2))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    plan: list[tuple[bytes, str]] = []
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
                plan.append((line, orjson.loads(line)["event_id"]))
                continue
            event_id = f"lat-{g}-{slot}"
            line = orjson.dumps({"event_id": event_id, "account_id": account,
                                 "occurred_at": (at + timedelta(milliseconds=slot)).isoformat(),
                                 **body})
            plan.append((line, event_id))
    lines = compact([line for line, _ in plan])
    return [(line, event_id) for line, (_, event_id) in zip(lines, plan, strict=True)]


def expected_offers(lines: list[bytes]) -> int:
    """The offers the decision core makes for these events, replayed offline."""
    table = AccountTable(rule_book())
    return sum(len(result.offers) for line in lines for result in table.apply(decode_event(line)))
