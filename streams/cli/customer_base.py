"""The simulated customers: who each account is and the story it lives.

Most accounts are ordinary: they use the product every day and grow slowly.
Some live one of the moments the example rules are written for, and the
simulator (streams/cli/simulator.py) plays it out:

- `steady`: a team that adds seats at a steady pace toward its plan's limit,
  so the forecast sees the limit coming before it is reached;
- `spurt`: a growth spurt, 5 to 9 seats (and as many employees) in a week;
- `collapse`: a team leaving, the seats halving in two days; half of these
  accounts start cancelling a few weeks later unless a cheaper plan keeps them;
- `quiet`: an account that goes silent for 22 to 25 days (no event at all),
  unless an offer brings it back.

Every block of `len(CAST)` accounts holds each story: the rare ones are dealt
first, so that a small sample (the shipped `examples/events.jsonl`) shows
every moment. Around them, what makes the time and segment triggers fire:
monthly and annual contracts renewing on the signup's anniversary, signups
spread so that tenure windows open before and during a run, and industries,
headcounts and countries (some payroll firms hiring toward 10 employees).
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from triggers import RuleBook

DAY = 86_400.0
INFINITY = float("inf")

# One block of accounts: the stories with a moment first (each dealt in a random
# order within its part), then the ordinary ones.
MOMENTS = ("steady", "spurt", "collapse", "quiet")
CAST = (*MOMENTS, "steady", "spurt", *["ordinary"] * 6)

# Seats of an account on a plan without a seat limit (the top tier): a size to
# draw from, not a limit.
UNLIMITED_SIZE = 200

# How long before the run an account signed up, in days (negative: during it),
# with weights: some sign up during the run, some are before or inside their
# tenure window (90-180 days), the others older; their anniversaries (the
# renewal dates) fall all over the year.
SIGNUP_AGES = ((-30, -1, 10), (20, 89, 20), (90, 180, 15), (181, 540, 30), (541, 1500, 25))
INDUSTRIES = ("payroll", "retail", "agency", "software", "healthcare", "logistics")
INDUSTRY_WEIGHTS = (25, 15, 15, 20, 10, 15)
COUNTRIES = ("DE", "FR", "GB", "US", "NL", "ES", "SE", "PL")
ANNUAL_SHARE = {"basic": 0.3, "pro": 0.5, "enterprise": 0.8}


@dataclass
class SimulatedAccount:
    """One customer as the simulation sees it: what it is, what it uses, its story."""

    account_id: str
    plan: str
    signed_up: float
    contract_term: str  # monthly or annual
    renews_at: float  # the next renewal
    industry: str
    employees: int
    hiring: float  # chance per day of one more employee
    country: str
    seats: int
    storage_gb: float
    projects: int
    api_calls_per_day: float
    growth: float  # chance per day of a few more seats (ordinary growth)
    story: str  # ordinary, steady, spurt, collapse or quiet
    story_day: int  # the run's day its moment begins
    pace: float  # steady: seats per day
    mood: str  # promoter, passive or detractor
    churns_on_day: int | None
    addons: list[str] = field(default_factory=list)
    next_event: int = 0
    # -- what the story has done so far ---------------------------------------
    spurt_left: int = 0  # seats still to add in a spurt
    collapse_to: int | None = None  # seats a collapse ends at
    quiet_since: float = -INFINITY  # the last event before its quiet spell
    quiet_until: float = -INFINITY  # silent until then
    told_quiet: bool = False  # the quiet spell has begun (it happens once)
    busy_until: float = -INFINITY  # the latest event sent for it (or waiting to be)

    def event_id(self) -> str:
        self.next_event += 1
        return f"{self.account_id}-{self.next_event:05d}"

    def is_quiet(self, at: float) -> bool:
        return at < self.quiet_until


def seat_limit(book: RuleBook, plan: str) -> int | None:
    """The plan's seat limit; None: unlimited."""
    limit = book.rules.plans[plan].limits.get("seats")
    return None if limit is None else int(limit)


def deal_stories(rnd: random.Random, accounts: int) -> list[str]:
    """The story of each account, block by block (see CAST)."""
    stories: list[str] = []
    while len(stories) < accounts:
        moments, others = list(CAST[:len(MOMENTS)]), list(CAST[len(MOMENTS):])
        rnd.shuffle(moments)
        rnd.shuffle(others)
        stories.extend(moments + others)
    return stories[:accounts]


def draw_account(
    rnd: random.Random, book: RuleBook, index: int, story: str, start: float
) -> SimulatedAccount:
    """One account of the base, with believable numbers for its story."""
    plan = rnd.choices(["basic", "pro", "enterprise"], weights=[70, 25, 5])[0]
    if story == "collapse" and plan == "basic":
        plan = "pro"  # a cheaper plan to offer it
    if story == "steady" and plan == "enterprise":
        plan = "pro"  # a limit to grow toward
    limit = seat_limit(book, plan)
    size = limit if limit is not None else UNLIMITED_SIZE
    low, high = {"steady": (0.35, 0.5), "spurt": (0.2, 0.45), "collapse": (0.5, 0.75)}.get(
        story, (0.3, 0.75))
    seats = max(1, int(size * rnd.uniform(low, high)))
    lowest, highest, _ = rnd.choices(SIGNUP_AGES, weights=[w for _, _, w in SIGNUP_AGES])[0]
    # Signed up during office hours, the renewals fall at the same time of day.
    signed_up = start - rnd.randint(lowest, highest) * DAY + rnd.uniform(8, 18) * 3600
    term = "annual" if rnd.random() < ANNUAL_SHARE[plan] else "monthly"
    industry = rnd.choices(INDUSTRIES, weights=INDUSTRY_WEIGHTS)[0]
    if industry == "payroll" and rnd.random() < 0.6:
        employees, hiring = rnd.randint(6, 9), rnd.uniform(0.04, 0.12)  # hiring toward 10+
    else:
        employees, hiring = seats + rnd.randint(0, seats * 2), rnd.uniform(0.0, 0.03)
    return SimulatedAccount(
        account_id=f"acct-{index:05d}",
        plan=plan,
        signed_up=signed_up,
        contract_term=term,
        # The first renewal comes after the first day: that day sends the subscription.
        renews_at=renewal_after(signed_up, 12 if term == "annual" else 1,
                                max(signed_up, start + DAY)),
        industry=industry,
        employees=employees,
        hiring=hiring,
        country=rnd.choice(COUNTRIES),
        seats=seats,
        storage_gb=round(size * 5 * rnd.uniform(0.2, 0.7), 1),
        projects=max(1, int(size / 2 * rnd.uniform(0.2, 0.7))),
        api_calls_per_day=size * 1000 / 30 * rnd.uniform(0.3, 1.1),
        growth=rnd.uniform(0.01, 0.07),
        story=story,
        # Early in a run (or in the account's life, for one signing up during it),
        # so that a month or two shows the moment and what follows.
        story_day=max(0, int((signed_up - start) // DAY) + 1)
        + rnd.randint(2, {"quiet": 12, "steady": 15}.get(story, 40)),
        pace=(size - seats) / rnd.uniform(15, 30),  # steady: at the limit in 15-30 days
        mood=rnd.choices(["promoter", "passive", "detractor"], weights=[45, 35, 20])[0],
        churns_on_day=rnd.randrange(20, 90) if rnd.random() < 0.08 else None,
    )


def renewal_after(signed_up: float, months: int, after: float) -> float:
    """The first renewal strictly after `after`: the signup plus a whole number of
    terms of `months`, on the signup's day of the month (the 31st renews on the
    last day of a shorter month) and at its time of day."""
    origin = datetime.fromtimestamp(signed_up, UTC)
    # A month is at most 31 days, so the renewal after this many terms is not later
    # than `after`: counting on from it takes a step or two.
    terms = max(0, int((after - signed_up) // (months * 31 * DAY)))
    while True:
        terms += 1
        renewal = _add_months(origin, terms * months).timestamp()
        if renewal > after:
            return renewal


def _add_months(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
