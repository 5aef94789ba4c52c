"""The events every benchmark sends, and what the decision core makes of them.

`make_events` is the traffic of a B2B SaaS product: each account is set up by a
subscription (plan, signup date, renewal date) and an account event (industry,
headcount, contract term), then usage-heavy traffic follows. Every account
takes its turn in a fixed rotation (40% of the traffic, each turn a usage
reading, one every ~19 days per account: the events span as many days as that
gives, ~60 at 1M events over 100k accounts), and the busiest fifth of the
accounts sends the other 60% at random; a tenth of the accounts goes quiet for
good at some moment. It exercises every kind of the
example rules: seat readings on many days (the daily samples behind growth,
forecast and usage drops; some teams grow, some shrink), renewals due within
the run, tenure windows that open during it, accounts that go quiet (the
dormant ones, 21 days after their last event), headcounts that grow into the
payroll segment, tickets that hold offers back, and plan changes that move
renewals.

The throughput phases of `make bench` and `make bench-core` send it; the latency
phase sends it at the pace of its wall clock, mixed with accounts made to fire
an offer, and knows from an offline replay (with the live partition count) how
many offers to wait for.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from schemas.events import decode_event
from schemas.rules_file import load_rules
from streams.runtime.routing import home_partition
from triggers import RuleBook
from triggers.table import AccountTable

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "examples" / "saas-rules.yaml"
BEFORE_TIME_RULES = REPO / "bench" / "rules" / "before-time.yaml"  # the rules before issue 8

START = datetime(2026, 3, 1, tzinfo=UTC)
# Every account's turn in the rotation comes about this often, under the 21 days
# of the inactivity trigger: the events cover as many days as their density
# gives (1M events over 100k accounts: ~60 days; 500k: ~23), a slice of a feed
# in which only the dormant accounts go quiet.
TURN_DAYS = 19
HOT_ACCOUNTS = 0.2  # the busiest accounts: a fifth of them ...
HOT_TRAFFIC = 0.6  # ... send 60% of the traffic (about 14 seat readings each in 60 days)
DORMANT = 0.1  # accounts that stop sending at a moment of the run
ANNUAL = 0.3  # accounts on an annual contract (the renewal offer is for them)
PAYROLL = 0.15  # accounts of industry payroll (the accounting cross-sell)
INDUSTRIES = ("software", "retail", "health", "finance", "education")
COUNTRIES = ("DE", "FR", "US", "GB", "NL", "ES")
# Seat steps per reading, by the team's trend: growing teams trigger growth and
# forecasts, shrinking ones the usage collapse.
SEAT_STEPS = {"growing": (1, 1, 1, 2, 0, -1), "steady": (-1, 0, 1), "shrinking": (-1, -1, -2, 0, 1)}
TRENDS = ("growing",) * 25 + ("steady",) * 65 + ("shrinking",) * 10
YEAR, MONTH = timedelta(days=365), timedelta(days=30)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Account:
    """What the generator remembers of an account, to send consistent events."""

    plan: str
    signed_up: datetime
    term: timedelta  # a year or a month
    renews: datetime
    seats: int
    trend: str
    industry: str
    employees: int
    ticket: int = 0  # tickets opened so far
    ticket_open: bool = False

    def subscription(self) -> dict[str, object]:
        return {"type": "subscription", "plan": self.plan, "started_at": rfc3339(self.signed_up),
                "renews_at": rfc3339(self.renews)}


def new_account(rnd: random.Random, at: datetime) -> Account:
    signed_up = at - timedelta(days=rnd.uniform(20, 400))
    term = YEAR if rnd.random() < ANNUAL else MONTH
    renews = signed_up + term * math.ceil((at - signed_up) / term)
    plan = rnd.choice(["basic", "basic", "pro"])
    seats = rnd.randint(1, 8) if plan == "basic" else rnd.randint(10, 45)
    industry = "payroll" if rnd.random() < PAYROLL else rnd.choice(INDUSTRIES)
    return Account(plan, signed_up, term, renews, seats, rnd.choice(TRENDS), industry,
                   employees=rnd.randint(2, 12) if industry == "payroll" else rnd.randint(1, 200))


def traffic(
    rnd: random.Random, account: Account, n: int, at: datetime, usage: bool = False
) -> dict[str, object]:
    """One event of the account's traffic (without ids and time); `usage`: a usage
    reading (an account's turn in the rotation: it uses the product)."""
    roll = rnd.random() * (0.90 if usage else 1.0)
    if roll < 0.45:
        account.seats = max(1, account.seats + rnd.choice(SEAT_STEPS[account.trend]))
        return {"type": "usage", "metric": "seats", "value": account.seats}
    if roll < 0.85:
        return {"type": "usage", "metric": "api_calls", "delta": rnd.randint(1, 400)}
    if roll < 0.90:
        return {"type": "usage", "metric": "storage_gb", "value": rnd.uniform(1, 60)}
    if roll < 0.92:
        return {"type": "feature_gate", "feature": "advanced_analytics"}
    if roll < 0.94:
        return {"type": "milestone", "name": "project_completed"}
    if roll < 0.95:
        return {"type": "nps", "score": rnd.randint(0, 10)}
    if roll < 0.97:  # a CRM sync: the team grew
        account.employees += rnd.randint(0, 3)
        return {"type": "account", "employees": account.employees}
    if roll < 0.98:  # a renewal or an upgrade: the renewal date moves
        if at >= account.renews:
            account.renews += account.term
        elif account.plan == "basic" and rnd.random() < 0.5:
            account.plan = "pro"
        return account.subscription()
    account.ticket_open = not account.ticket_open
    if account.ticket_open:
        account.ticket += 1
    return {"type": "ticket", "ticket_id": f"t-{n}-{account.ticket}",
            "status": "opened" if account.ticket_open else "resolved",
            "severity": rnd.choice(["low", "normal", "high", "urgent"])}


def make_events(
    count: int, accounts: int, seed: int = 1, start: datetime = START,
    span: timedelta | None = None,
) -> list[bytes]:
    """`count` JSON events over `accounts` accounts: the setup of every account at
    `start`, then traffic spread evenly over `span` of event time (None: what
    gives each account a turn every TURN_DAYS)."""
    rnd = random.Random(seed)
    remaining = max(0, count - 2 * accounts)
    if span is None:
        turns_each = remaining * (1 - HOT_TRAFFIC) / max(accounts, 1)
        span = max(timedelta(days=1), timedelta(days=TURN_DAYS) * turns_each)
    lines = []

    def add(event: dict[str, object]) -> None:
        # bytes(memoryview(...)): a copy of exactly the right size; an orjson
        # result keeps ~4 KB allocated, which would dwarf what is measured.
        lines.append(bytes(memoryview(orjson.dumps(event))))

    at = rfc3339(start)
    table = [new_account(rnd, start) for _ in range(accounts)]
    for n, account in enumerate(table):
        add({"event_id": f"s-{n}", "account_id": f"acct-{n}", "occurred_at": at,
             **account.subscription()})
        add({"event_id": f"a-{n}", "account_id": f"acct-{n}", "occurred_at": at,
             "type": "account", "industry": account.industry, "employees": account.employees,
             "country": rnd.choice(COUNTRIES),
             "contract_term": "annual" if account.term == YEAR else "monthly"})
    busiest = max(1, int(accounts * HOT_ACCOUNTS))
    rotation = list(range(accounts))
    rnd.shuffle(rotation)
    turns = itertools.cycle(rotation)
    stops = {number: start + span * rnd.random()
             for number in rnd.sample(range(accounts), int(accounts * DORMANT))}
    step = span / max(remaining, 1)
    for n in range(remaining):
        moment = start + step * n
        turn = rnd.random() >= HOT_TRAFFIC
        number = next(turns) if turn else rnd.randrange(busiest)
        while number in stops and moment > stops[number]:  # gone quiet: the next in turn
            number, turn = next(turns), True
        body = traffic(rnd, table[number], number, moment, usage=turn)
        add({"event_id": f"e-{n}", "account_id": f"acct-{number}",
             "occurred_at": moment.isoformat(), **body})
    return lines[:count]


def rule_book(path: str | Path = RULES) -> RuleBook:
    """The rules a benchmark runs (default: examples/saas-rules.yaml)."""
    return RuleBook.compile(load_rules(path))


def compact(lines: list[bytes]) -> list[bytes]:
    """The same lines, cut from one buffer: each orjson.dumps result alone holds ~4 KB,
    which would dwarf what a phase measures."""
    return b"\n".join(lines).split(b"\n")


def throughput_events(events: int, accounts: int) -> list[bytes]:
    """`events` JSON events over `accounts` accounts, in the order they are produced."""
    return compact(make_events(events, accounts))


LATENCY_BACKGROUND_ACCOUNTS = 5_000
LATENCY_START = datetime(2026, 6, 1, tzinfo=UTC)


def latency_events(
    rate: int, seconds: float, background_accounts: int = LATENCY_BACKGROUND_ACCOUNTS
) -> list[tuple[bytes, str]]:
    """Steady traffic in which 3 events in 20 belong to a fresh account whose seats
    go 7 then 8 of its Basic plan's 10 (the seats-80 trigger): ~100 offers/s at
    2,000 events/s on top of what the background traffic (`make_events`) fires by
    itself. Event time runs at the pace of the wall clock, as in a live feed: the
    background's `span` is the run's length, and each fresh account's events are
    dated where they fall in it. Returns (json line, event_id) in send order."""
    total = int(rate * seconds)
    groups = total // 20
    span = timedelta(seconds=seconds)
    background = iter(make_events(groups * 17, background_accounts, seed=2,
                                  start=LATENCY_START, span=span))
    plan: list[tuple[bytes, str]] = []
    for g in range(groups):
        account = f"lat-{g}"
        at = LATENCY_START + span * (g / max(groups, 1))
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


@dataclass(frozen=True)
class ExpectedOffers:
    """What the decision core offers for some events, replayed offline as the live
    engine runs them in `event` clock mode: one clock per partition."""

    total: int
    timed: int  # made by the sweep at a due time (caused_by "due:..."), not by an event

    @property
    def by_events(self) -> int:
        return self.total - self.timed


def expected_offers(lines: list[bytes], partitions: int, rules: str | Path = RULES) -> ExpectedOffers:
    """The offers the engine makes for these events on `partitions` partitions."""
    table = AccountTable(rule_book(rules), partitions, home_partition)
    total = timed = 0
    for line in lines:
        for result in table.apply(decode_event(line)):
            for offer in result.offers:
                total += 1
                timed += offer.caused_by.startswith("due:")
    return ExpectedOffers(total, timed)
