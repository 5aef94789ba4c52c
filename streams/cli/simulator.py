"""A simulated customer base: accounts that sign up, renew, grow, hit limits,
hire, succeed, complain, go quiet, collapse, answer surveys, respond to offers
and change plans.

Used to make the shipped sample (`examples/events.jsonl`, made with
`upsell simulate --accounts 10 --days 45 --seed 45 --with-mistakes`), to feed
the demo, and by the benchmarks. It is deterministic for a seed, and its
events come in event-time order. Who the customers are and the story each
one lives is streams/cli/customer_base.py; this module plays it out day by day.

Customers react to the offers they receive (shown, then accepted, declined or
dismissed, and an accepted offer is followed by the plan or add-on change),
so the sample exercises the whole loop, conversions included. The offers have
a true effect: a customer in the holdout (the control group) is never shown
the offer the engine decided for it, and makes the same change on its own, a
few days later, at a third of the rate it would have taken the offer
(ORGANIC_SHARE); `Effect` keeps the rates so designed, to check what the
report measures against them. To know which
offers a customer saw, the simulator runs the decision core on its own table
of the accounts, with one clock (as `upsell replay` does): the clock moves
with every event and to the start of every simulated day, so a timed offer
(a renewal, a tenure window, a quiet account's) reaches its customer at its
due time even when that customer sends nothing.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.events import EVENT_ADAPTER
from schemas.offers import Offer
from schemas.outcomes import Outcome
from streams.cli.customer_base import (
    DAY,
    SimulatedAccount,
    deal_stories,
    draw_account,
    renewal_after,
)
from triggers import Evaluation, RuleBook
from triggers.table import AccountTable

Event = dict[str, Any]

STEP = DAY * 0.01  # between two events of one account in one burst
QUIET_DAYS = (22, 25)  # a quiet spell: longer than the 21 days of the example rules
# A quiet team does not open the app, so it misses in-app offers; after about
# three weeks its silence is noticed (an email about it gets read) and an
# offer then brings it back. Just under the 21 days of the example rules, so
# that their inactivity offer is the one that does.
NOTICED_AFTER_DAYS = 20

FIT = 0.75  # what a customer keeps of each limit of a smaller plan it moves to

# Chance that a customer takes an offer it was shown, by mood. A down-sell
# speaks to an account that is leaving, whatever it thinks of the product; a
# free offer (the onboarding workshop) costs nothing to take.
TAKE_UPSELL = {"promoter": 0.45, "passive": 0.25, "detractor": 0.05}
TAKE_DOWN_SELL = {"promoter": 0.5, "passive": 0.4, "detractor": 0.25}
TAKE_FREE = {"promoter": 0.6, "passive": 0.45, "detractor": 0.2}
NOT_SEEN = 0.15  # an offer the customer never sees (did not open the app while it was live)
# Without the offer, a customer makes the change on its own this much as often.
ORGANIC_SHARE = 1 / 3


@dataclass
class Effect:
    """The designed conversion chance of every decision, per group: what a report
    measuring the offers' lift should find, within its interval."""

    offered: int = 0
    offered_chance: float = 0.0  # sum of each offered decision's chance to convert
    held_out: int = 0
    held_out_chance: float = 0.0

    @property
    def lift(self) -> float:
        return self.offered_chance / self.offered - self.held_out_chance / self.held_out


class Simulator:
    """Generates a realistic, time-ordered stream of events."""

    def __init__(
        self, book: RuleBook, accounts: int, seed: int = 7, start: datetime | None = None
    ) -> None:
        self.book = book
        self.table = AccountTable(book)  # what the engine knows of each account
        self.random = random.Random(seed)
        self.start = (start or datetime(2026, 1, 5, tzinfo=UTC)).timestamp()
        stories = deal_stories(self.random, accounts)
        self.accounts = [
            draw_account(self.random, book, index, story, self.start)
            for index, story in enumerate(stories)
        ]
        self._queue: list[tuple[float, int, Event]] = []
        self._sequence = 0
        self._now = self.start  # the simulation's present: nothing is sent before it
        self.offers: list[Offer] = []
        self.effect = Effect()

    def events(self, days: int) -> Iterator[Event]:
        """Yield `days` days of events in event-time order."""
        for day in range(days):
            day_start = self.start + day * DAY
            # The table's clock moves to the new day first: timed offers due by now
            # reach their customers, even those that send nothing today.
            self._now = max(self._now, day_start)
            self._respond_to(self.table.advance(day_start))
            for account in self.accounts:
                if account.signed_up < day_start + DAY:
                    self._organic_day(account, day, day_start)
            while self._queue and self._queue[0][0] < day_start + DAY:
                at, _, event = heapq.heappop(self._queue)
                self._now = at
                self._respond_to(self.table.apply(EVENT_ADAPTER.validate_json(orjson.dumps(event))))
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
        account.busy_until = max(account.busy_until, at)
        heapq.heappush(self._queue, (at, self._sequence, event))

    # -- a day in the life of an account --------------------------------------

    def _organic_day(self, account: SimulatedAccount, day: int, day_start: float) -> None:
        if account.is_quiet(day_start) or self._goes_quiet(account, day, day_start):
            return
        rnd = self.random
        at = max(day_start, account.signed_up) + rnd.uniform(0, DAY * 0.5)
        if account.signed_up >= day_start or (day == 0 and account.signed_up < self.start):
            at = self._first_day(account, at)  # what the account is, its plan, its levels
        elif account.renews_at < day_start + DAY:
            # Billing renews the contract on the anniversary of the signup.
            months = 12 if account.contract_term == "annual" else 1
            renewed_at = max(account.renews_at, day_start)
            account.renews_at = renewal_after(account.signed_up, months, renewed_at)
            self._subscription(account, renewed_at)
        seats = self._seats_today(account, day)
        if seats != account.seats:
            if account.story == "spurt" and seats > account.seats:
                account.employees += seats - account.seats  # hired for the new seats
                self._push(account, at, "account", employees=account.employees)
                at += STEP
            account.seats = seats
            self._push(account, at, "usage", metric="seats", value=seats)
            at += STEP
        if rnd.random() < account.hiring:
            account.employees += 1
            self._push(account, at, "account", employees=account.employees)  # a CRM sync
            at += STEP
        storage = self._within_limit(account.plan, "storage_gb", account.storage_gb,
                                     round(account.storage_gb * rnd.uniform(1.0, 1.06), 1))
        if rnd.random() < 0.3 and storage != account.storage_gb:
            account.storage_gb = storage
            self._push(account, at, "usage", metric="storage_gb", value=storage)
            at += STEP
        projects = int(self._within_limit(account.plan, "projects", account.projects,
                                          account.projects + 1))
        if rnd.random() < account.growth / 2 and projects != account.projects:
            account.projects = projects
            self._push(account, at, "usage", metric="projects", value=projects)
            at += STEP
        if rnd.random() < 0.025:  # a project completed every 40 days or so
            self._push(account, at, "milestone", name="project_completed")
            at += STEP
        calls = int(account.api_calls_per_day * rnd.uniform(0.6, 1.4) * (1 + day / 60))
        self._push(account, at, "usage", metric="api_calls", delta=calls)
        at += STEP
        if account.plan == "basic" and rnd.random() < 0.02:
            self._push(account, at, "feature_gate", feature="advanced_analytics")
            at += STEP
        if day in (25, 70):
            low, high = {"promoter": (9, 10), "passive": (7, 8), "detractor": (2, 6)}[account.mood]
            self._push(account, at, "nps", score=rnd.randint(low, high))
            at += STEP
        if rnd.random() < 0.01:
            ticket = f"T-{account.account_id}-{day}"
            severity = rnd.choice(["low", "normal", "high", "urgent"])
            self._push(account, at, "ticket", ticket_id=ticket, status="opened", severity=severity)
            self._push(account, at + rnd.uniform(0.2, 4) * DAY, "ticket", ticket_id=ticket,
                       status="resolved", severity=severity)
        if account.churns_on_day == day:
            self._push(account, at, "churn_signal", name="cancellation_started")

    def _first_day(self, account: SimulatedAccount, at: float) -> float:
        """The events of an account's first day: its attributes (first, so that a
        segment or a `when:` reads them when its subscription arrives), its
        subscription, and the levels it starts at. Returns the next free moment."""
        self._push(account, at, "account", industry=account.industry,
                   employees=account.employees, country=account.country,
                   contract_term=account.contract_term)
        at += STEP
        self._subscription(account, at)
        at += STEP
        for metric, value in (("seats", account.seats), ("storage_gb", account.storage_gb),
                              ("projects", account.projects)):
            self._push(account, at, "usage", metric=metric, value=value)
            at += STEP
        return at

    def _subscription(self, account: SimulatedAccount, at: float) -> None:
        if account.renews_at <= at:  # a change on or after the renewal date renews it too
            months = 12 if account.contract_term == "annual" else 1
            account.renews_at = renewal_after(account.signed_up, months, at)
        self._push(account, at, "subscription", plan=account.plan, addons=account.addons,
                   started_at=_iso(account.signed_up), renews_at=_iso(account.renews_at))

    def _seats_today(self, account: SimulatedAccount, day: int) -> int:
        """The seats in use at the end of the day, as the account's story goes."""
        rnd = self.random
        seats, story = account.seats, account.story
        if story == "collapse" and day >= account.story_day:
            return self._collapsing(account, day)
        if story == "steady" and day >= account.story_day:
            gain = int(account.pace) + (rnd.random() < account.pace % 1)
        elif story == "spurt" and day == account.story_day:
            account.spurt_left = rnd.randint(5, 9)
            gain = 0
        elif account.spurt_left > 0:
            gain = min(account.spurt_left, rnd.randint(1, 3))
            account.spurt_left -= gain
        elif story != "collapse" and rnd.random() < account.growth:
            gain = rnd.choice([1, 1, 1, 2, 3])
        else:
            gain = 0
        return int(self._within_limit(account.plan, "seats", seats, seats + gain))

    def _within_limit(self, plan: str, metric: str, level: float, wanted: float) -> float:
        """The product lets no gauge pass its plan's limit (nor takes away what is
        already over it): the customer meets the limit, and the offer for it."""
        limit = self.book.rules.plans[plan].limits.get(metric)
        if limit is None or wanted <= limit:
            return wanted
        return max(limit, level)

    def _collapsing(self, account: SimulatedAccount, day: int) -> int:
        """A team leaves: the seats fall to 30-45% in two days, and half of these
        accounts start cancelling 10 to 30 days later (unless a down-sell keeps them)."""
        rnd, seats = self.random, account.seats
        if account.collapse_to is None:
            collapse_to = account.collapse_to = max(1, round(seats * rnd.uniform(0.3, 0.45)))
            account.api_calls_per_day *= collapse_to / seats
            if rnd.random() < 0.5:
                account.churns_on_day = day + rnd.randint(10, 30)
            return (seats + collapse_to) // 2
        return min(seats, account.collapse_to)  # a smaller plan may have taken it lower

    def _goes_quiet(self, account: SimulatedAccount, day: int, day_start: float) -> bool:
        """A quiet account falls silent once, on the first day from its story's day
        when nothing of its own is still due (a reply, a ticket) and no renewal
        falls in the spell: it sends no event at all until the spell ends."""
        if account.story != "quiet" or account.told_quiet or day < account.story_day:
            return False
        days = self.random.randint(*QUIET_DAYS)
        end = day_start + days * DAY
        if account.busy_until >= day_start or account.renews_at <= end + DAY:
            return False
        account.told_quiet, account.quiet_until = True, end
        account.quiet_since = account.busy_until  # its last event
        return True

    # -- customers and their offers -------------------------------------------

    def _respond_to(self, results: Iterable[Evaluation]) -> None:
        """Customers respond to what the core offered; timed offers may be for
        other accounts than the event's."""
        for result in results:
            for offer in result.offers:
                self.offers.append(offer)
                self._respond(self._account(offer.account_id), offer)
            for outcome in result.outcomes:
                if outcome.status == "held_out":
                    self._on_its_own(self._account(outcome.account_id), outcome)

    def _respond(self, account: SimulatedAccount, offer: Offer) -> None:
        rnd = self.random
        take_rate = self._take_rate(account, offer.kind, offer.recommended.price_monthly)
        self.effect.offered += 1
        self.effect.offered_chance += (1 - NOT_SEEN) * take_rate
        if rnd.random() < NOT_SEEN:
            return  # never opened the app while the offer was live
        # A timed offer is made at its due time, which may be a moment ago.
        shown = max(offer.created_at.timestamp(), self._now) + rnd.uniform(0.05, 0.5) * DAY
        if account.is_quiet(shown):
            if shown < account.quiet_since + NOTICED_AFTER_DAYS * DAY:
                return  # not seen: the team does not open the app
            account.quiet_until = shown  # the offer brings a quiet account back
        self._push(account, shown, "offer_response", offer_id=offer.offer_id, response="shown")
        answer = rnd.random()
        if answer < take_rate:
            self._push(account, shown + 600, "offer_response", offer_id=offer.offer_id,
                       response="accepted")
            recommended = offer.recommended
            self._take(account, offer.kind, recommended.type, recommended.id,
                       shown + rnd.uniform(0.1, 2) * DAY)
        elif answer < take_rate + 0.3:
            response = rnd.choice(["declined", "dismissed"])
            self._push(account, shown + 60, "offer_response", offer_id=offer.offer_id,
                       response=response)

    def _on_its_own(self, account: SimulatedAccount, decision: Outcome) -> None:
        """A held-out customer never sees the offer; some make the change anyway."""
        kind, recommended = decision.kind, decision.recommended
        assert kind is not None and recommended is not None  # set on every decision
        target_type, _, target_id = recommended.partition(":")
        price = (self.book.rules.addons[target_id].price_monthly if target_type == "addon"
                 else self.book.rules.plans[target_id].price_monthly)
        chance = self._take_rate(account, kind, price) * ORGANIC_SHARE
        self.effect.held_out += 1
        self.effect.held_out_chance += chance
        if self.random.random() < chance:
            at = max(decision.at.timestamp(), self._now) + self.random.uniform(1, 5) * DAY
            self._take(account, kind, target_type, target_id, at)

    @staticmethod
    def _take_rate(account: SimulatedAccount, kind: str, price: float | None) -> float:
        if kind == "down_sell":
            return TAKE_DOWN_SELL[account.mood]
        if price == 0:
            return TAKE_FREE[account.mood]
        return TAKE_UPSELL[account.mood]

    def _take(self, account: SimulatedAccount, kind: str, target_type: str, target_id: str,
              at: float) -> None:
        if target_type == "addon":
            if target_id in account.addons:
                return  # taken already (another offer for it)
            account.addons = [*account.addons, target_id]
        else:
            account.plan = target_id
        self._subscription(account, at)
        if kind == "down_sell":
            account.churns_on_day = None  # a cheaper plan kept the customer
            self._fit(account, at + STEP)

    def _fit(self, account: SimulatedAccount, at: float) -> None:
        """A customer moving to a smaller plan makes room: it keeps each gauge under
        FIT of the new limit (seats removed, files deleted) and uses fewer API calls."""
        limits = self.book.rules.plans[account.plan].limits
        gauges = (("seats", account.seats), ("storage_gb", account.storage_gb),
                  ("projects", account.projects))
        fitted = {metric: value for metric, value in gauges
                  if metric in limits and value > limits[metric] * FIT}
        for metric in fitted:
            fitted[metric] = max(1, int(limits[metric] * FIT))
            self._push(account, at, "usage", metric=metric, value=fitted[metric])
            at += STEP
        account.seats = int(fitted.get("seats", account.seats))
        account.storage_gb = fitted.get("storage_gb", account.storage_gb)
        account.projects = int(fitted.get("projects", account.projects))
        if "api_calls" in limits:
            account.api_calls_per_day = min(account.api_calls_per_day,
                                            limits["api_calls"] / 30 * FIT / 2)

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
