"""A simulated customer base: accounts that sign up, grow, hit limits, succeed,
complain, answer surveys, respond to offers and upgrade.

Used to make the shipped sample (`examples/events.jsonl`), to feed the demo,
and by the benchmarks. It is deterministic for a seed. Customers react to the
offers they receive (shown, then accepted, declined or dismissed, and an
accepted upsell is followed by the plan change), so the sample exercises the
whole loop, conversions included. To know which offers a customer saw, the
simulator runs the decision core on its own table of the accounts.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.events import EVENT_ADAPTER
from schemas.offers import Offer
from triggers import RuleBook
from triggers.table import AccountTable

DAY = 86_400.0

Event = dict[str, Any]


@dataclass
class SimulatedAccount:
    account_id: str
    plan: str
    signed_up: float
    seats: int
    storage_gb: float
    projects: int
    api_calls_per_day: float
    growth: float  # chance per day of one more seat
    mood: str  # promoter, passive or detractor
    churns_on_day: int | None
    addons: list[str] = field(default_factory=list)
    next_event: int = 0

    def event_id(self) -> str:
        self.next_event += 1
        return f"{self.account_id}-{self.next_event:05d}"


class Simulator:
    """Generates a realistic, time-ordered stream of events."""

    def __init__(
        self, book: RuleBook, accounts: int, seed: int = 7, start: datetime | None = None
    ) -> None:
        self.book = book
        self.table = AccountTable(book)  # what the engine knows of each account
        self.random = random.Random(seed)
        self.start = (start or datetime(2026, 1, 5, tzinfo=UTC)).timestamp()
        self.accounts = [self._new_account(index) for index in range(accounts)]
        self._queue: list[tuple[float, int, Event]] = []
        self._sequence = 0
        self.offers: list[Offer] = []

    def _new_account(self, index: int) -> SimulatedAccount:
        rnd = self.random
        plan = rnd.choices(["basic", "pro", "enterprise"], weights=[70, 25, 5])[0]
        limit = {"basic": 10, "pro": 50, "enterprise": 200}[plan]
        # A few accounts sign up during the run, the others months before it.
        days_before = rnd.choice([-20, -5, 30, 60, 120, 200, 400])
        return SimulatedAccount(
            account_id=f"acct-{index:05d}",
            plan=plan,
            signed_up=self.start - days_before * DAY,
            seats=max(1, int(limit * rnd.uniform(0.3, 0.75))),
            storage_gb=limit * 5 * rnd.uniform(0.2, 0.7),
            projects=max(1, int(limit / 2 * rnd.uniform(0.2, 0.7))),
            api_calls_per_day=limit * 1000 / 30 * rnd.uniform(0.3, 1.1),
            growth=rnd.uniform(0.02, 0.15),
            mood=rnd.choices(["promoter", "passive", "detractor"], weights=[45, 35, 20])[0],
            churns_on_day=rnd.randrange(20, 90) if rnd.random() < 0.1 else None,
        )

    def events(self, days: int) -> Iterator[Event]:
        """Yield `days` days of events in event-time order."""
        for day in range(days):
            day_start = self.start + day * DAY
            for account in self.accounts:
                if account.signed_up < day_start + DAY:
                    self._organic_day(account, day, day_start)
            while self._queue and self._queue[0][0] < day_start + DAY:
                _, _, event = heapq.heappop(self._queue)
                self._react(event)
                yield event

    def _push(self, account: SimulatedAccount, at: float, type_: str, **fields: Any) -> None:
        event = {
            "event_id": account.event_id(),
            "account_id": account.account_id,
            "type": type_,
            "occurred_at": _iso(at),
            **fields,
        }
        self._sequence += 1
        heapq.heappush(self._queue, (at, self._sequence, event))

    def _organic_day(self, account: SimulatedAccount, day: int, day_start: float) -> None:
        rnd = self.random
        signs_up_today = account.signed_up >= day_start
        at = max(day_start, account.signed_up) + rnd.uniform(0, DAY * 0.5)
        step = DAY * 0.01
        if signs_up_today or (day == 0 and account.signed_up < self.start):
            self._push(account, at, "subscription", plan=account.plan, addons=account.addons,
                       started_at=_iso(account.signed_up))
            at += step
        if rnd.random() < account.growth:
            account.seats += rnd.choice([1, 1, 1, 2, 3])
            self._push(account, at, "usage", metric="seats", value=account.seats)
            at += step
        if rnd.random() < 0.3:
            account.storage_gb = round(account.storage_gb * rnd.uniform(1.0, 1.06), 1)
            self._push(account, at, "usage", metric="storage_gb", value=account.storage_gb)
            at += step
        if rnd.random() < account.growth / 2:
            account.projects += 1
            self._push(account, at, "usage", metric="projects", value=account.projects)
            at += step
        if rnd.random() < 0.04:
            self._push(account, at, "milestone", name="project_completed")
            at += step
        calls = int(account.api_calls_per_day * rnd.uniform(0.6, 1.4) * (1 + day / 60))
        self._push(account, at, "usage", metric="api_calls", delta=calls)
        at += step
        if account.plan == "basic" and rnd.random() < 0.02:
            self._push(account, at, "feature_gate", feature="advanced_analytics")
            at += step
        if day in (25, 70):
            low, high = {"promoter": (9, 10), "passive": (7, 8), "detractor": (2, 6)}[account.mood]
            self._push(account, at, "nps", score=rnd.randint(low, high))
            at += step
        if rnd.random() < 0.01:
            ticket = f"T-{account.account_id}-{day}"
            severity = rnd.choice(["low", "normal", "high", "urgent"])
            self._push(account, at, "ticket", ticket_id=ticket, status="opened", severity=severity)
            self._push(account, at + rnd.uniform(0.2, 4) * DAY, "ticket", ticket_id=ticket,
                       status="resolved", severity=severity)
        if account.churns_on_day == day:
            self._push(account, at, "churn_signal", name="cancellation_started")

    def _react(self, event: Event) -> None:
        """Run the core on the simulator's table of accounts; customers respond to offers."""
        for result in self.table.apply(EVENT_ADAPTER.validate_json(orjson.dumps(event))):
            for offer in result.offers:  # timed offers may be other accounts'
                self.offers.append(offer)
                self._respond(self._account(offer.account_id), offer, offer.created_at.timestamp())

    def _respond(self, account: SimulatedAccount, offer: Offer, at: float) -> None:
        rnd = self.random
        if rnd.random() < 0.15:
            return  # never opened the app while the offer was live
        shown = at + rnd.uniform(0.05, 0.5) * DAY
        self._push(account, shown, "offer_response", offer_id=offer.offer_id, response="shown")
        take_rate = {"promoter": 0.45, "passive": 0.25, "detractor": 0.05}[account.mood]
        answer = rnd.random()
        if answer < take_rate:
            self._push(account, shown + 600, "offer_response", offer_id=offer.offer_id,
                       response="accepted")
            self._take(account, offer, shown + rnd.uniform(0.1, 2) * DAY)
        elif answer < take_rate + 0.3:
            response = rnd.choice(["declined", "dismissed"])
            self._push(account, shown + 60, "offer_response", offer_id=offer.offer_id,
                       response=response)

    def _take(self, account: SimulatedAccount, offer: Offer, at: float) -> None:
        recommended = offer.recommended
        if recommended.type == "addon":
            account.addons = [*account.addons, recommended.id]
        else:
            account.plan = recommended.id
        self._push(account, at, "subscription", plan=account.plan, addons=account.addons,
                   started_at=_iso(account.signed_up))

    def _account(self, account_id: str) -> SimulatedAccount:
        return self.accounts[int(account_id.rsplit("-", 1)[1])]


def _iso(at: float) -> str:
    moment = datetime.fromtimestamp(round(at), UTC)
    return moment.isoformat().replace("+00:00", "Z")


def with_mistakes(events: list[Event], seed: int = 1) -> list[bytes]:
    """Encode events as JSON lines and slip in what real producers get wrong:
    a resent duplicate, a value sent as a string, a missing field, broken JSON."""
    rnd = random.Random(seed)
    lines = [orjson.dumps(event) for event in events]
    if len(events) < 10:
        return lines
    duplicate = lines[rnd.randrange(len(lines))]
    bad_type = dict(events[rnd.randrange(len(events))], type="usage", metric="seats", value="41")
    bad_type["event_id"] = "bad-1"
    missing = {k: v for k, v in events[0].items() if k != "occurred_at"}
    missing["event_id"] = "bad-2"
    for position, line in sorted(
        [
            (rnd.randrange(len(lines)), duplicate),
            (rnd.randrange(len(lines)), orjson.dumps(bad_type)),
            (rnd.randrange(len(lines)), orjson.dumps(missing)),
            (rnd.randrange(len(lines)), b'{"event_id": "bad-3", "account_id": '),
        ],
        reverse=True,
    ):
        lines.insert(position, line)
    return lines
