"""The leaves of `when:` conditions: one question each about an account.

Each leaf reads a few fields of the state and computes nothing the rules
already fix (prices, limits and day counts are resolved when it is compiled,
in triggers/when.py), since `holds` runs each time a trigger's condition is
met. Nothing the account has not told is ever true: a missing attribute, a
gauge never read, a custom price.

Each leaf also says what it reads (`reads`), so that the rule book keeps in the
account's state only what some condition asks about (recent milestones, the
latest NPS) and knows which metrics move a timed trigger's due time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from triggers.periods import DAY
from triggers.state import AccountState

INFINITY = float("inf")


@dataclass(frozen=True, slots=True)
class Reads:
    """What a condition reads of the account that only some accounts keep: recent
    signals and latest scores (kept for the rules that ask), and metrics (whose
    readings move a timed trigger's due time). Attributes, the plan and the signup
    are always kept, and the events that change them always refresh due times."""

    signals: frozenset[str] = frozenset()  # "milestone:project_completed"
    scores: frozenset[str] = frozenset()  # "nps"
    metrics: frozenset[str] = frozenset()

    def __or__(self, other: Reads) -> Reads:
        return Reads(self.signals | other.signals, self.scores | other.scores,
                     self.metrics | other.metrics)


class Compiled(Protocol):
    """A compiled node: the `When` protocol, and what it reads."""

    def holds(self, state: AccountState, now: float) -> bool: ...

    def changes_at(self, state: AccountState, now: float) -> float | None: ...

    @property
    def reads(self) -> Reads: ...


class _ChangedByEvents:
    """For a leaf that only an event can change (never time alone) and that reads
    only what every account keeps."""

    __slots__ = ()

    def changes_at(self, state: AccountState, now: float) -> float | None:
        return None

    @property
    def reads(self) -> Reads:
        return Reads()


# -- attributes -----------------------------------------------------------------

def typed(value: str | float | bool) -> tuple[str, str | float | bool]:
    """A value with its kind, so that true never equals 1 and 10 equals 10.0."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return ("text", value)


@dataclass(frozen=True, slots=True)
class AttributeIn(_ChangedByEvents):
    """The attribute equals one of `values` (as `typed` gives them)."""

    name: str
    values: frozenset[tuple[str, str | float | bool]]

    def holds(self, state: AccountState, now: float) -> bool:
        value = state.attributes.get(self.name)
        return value is not None and typed(value) in self.values


@dataclass(frozen=True, slots=True)
class AttributeBetween(_ChangedByEvents):
    """A numeric attribute within [low, high]; text or a boolean is not a number."""

    name: str
    low: float = -INFINITY
    high: float = INFINITY

    def value(self, state: AccountState, now: float) -> float | None:
        value = state.attributes.get(self.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value

    def holds(self, state: AccountState, now: float) -> bool:
        value = self.value(state, now)
        return value is not None and self.low <= value <= self.high


@dataclass(frozen=True, slots=True)
class AttributePresent(_ChangedByEvents):
    name: str
    present: bool

    def holds(self, state: AccountState, now: float) -> bool:
        return (self.name in state.attributes) == self.present


# What an account event can change (the rule book watches them for timed triggers).
ATTRIBUTE_LEAVES = (AttributeIn, AttributeBetween, AttributePresent)


# -- subscription: plan, tenure, MRR ---------------------------------------------

@dataclass(frozen=True, slots=True)
class PlanIn(_ChangedByEvents):
    plans: frozenset[str]

    def holds(self, state: AccountState, now: float) -> bool:
        return state.plan in self.plans


@dataclass(frozen=True, slots=True)
class TenureBetween:
    """Whole days since signup within bounds: holds from signup + `start` until
    (excluding) signup + `end`, seconds; unknown signup: false."""

    start: float
    end: float  # inf: no upper bound

    def days(self, state: AccountState, now: float) -> float | None:
        signed_up_at = state.signed_up_at
        return None if signed_up_at is None else (now - signed_up_at) // DAY

    def holds(self, state: AccountState, now: float) -> bool:
        signed_up_at = state.signed_up_at
        return signed_up_at is not None and self.start <= now - signed_up_at < self.end

    def changes_at(self, state: AccountState, now: float) -> float | None:
        signed_up_at = state.signed_up_at
        if signed_up_at is None:
            return None
        if now - signed_up_at < self.start:
            return signed_up_at + self.start
        if now - signed_up_at < self.end < INFINITY:
            return signed_up_at + self.end
        return None

    @property
    def reads(self) -> Reads:
        return Reads()


@dataclass(frozen=True, slots=True)
class MrrBetween(_ChangedByEvents):
    """The plan's price plus the owned add-ons' prices within [low, high]; a price
    the catalogue does not know (custom, or an unknown plan or add-on): false."""

    low: float
    high: float
    plan_prices: dict[str, float | None]
    addon_prices: dict[str, float | None]

    def value(self, state: AccountState, now: float) -> float | None:
        plan = state.plan
        total = self.plan_prices.get(plan) if plan is not None else None
        if total is None:
            return None
        for addon in state.addons:
            price = self.addon_prices.get(addon)
            if price is None:
                return None
            total += price
        return total

    def holds(self, state: AccountState, now: float) -> bool:
        mrr = self.value(state, now)
        return mrr is not None and self.low <= mrr <= self.high


# -- metrics ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MetricBetween:
    """A metric's level now within bounds, absolute and/or in percent of the plan's
    limit. A gauge never read: false; a counter with nothing this period is at 0."""

    metric: str
    counter: bool
    low: float = -INFINITY
    high: float = INFINITY
    percent_low: float | None = None
    percent_high: float | None = None
    limits: dict[str, float] = field(default_factory=dict)  # plan -> this metric's limit

    def value(self, state: AccountState, now: float) -> float | None:
        if self.counter:
            period = state.counters.get(self.metric)
            # A period that has ended: the next one has had no usage yet.
            return period[0] if period is not None and now < period[2] else 0.0
        gauge = state.gauges.get(self.metric)
        return None if gauge is None else gauge[0]

    def limit(self, state: AccountState) -> float | None:
        return self.limits.get(state.plan) if state.plan is not None else None

    def holds(self, state: AccountState, now: float) -> bool:
        value = self.value(state, now)
        if value is None or not self.low <= value <= self.high:
            return False
        if self.percent_low is None and self.percent_high is None:
            return True
        limit = self.limit(state)
        if limit is None:
            return False  # unlimited on this plan, or an unknown plan
        # Integer-safe "value / limit >= percent": 5 of 10 is exactly 50%.
        if self.percent_low is not None and value * 100 < self.percent_low * limit:
            return False
        return self.percent_high is None or value * 100 <= self.percent_high * limit

    def changes_at(self, state: AccountState, now: float) -> float | None:
        if self.counter:
            period = state.counters.get(self.metric)
            if period is not None and now < period[2]:
                return period[2]  # the total falls back to 0 as the period ends
        return None

    @property
    def reads(self) -> Reads:
        return Reads(metrics=frozenset([self.metric]))


# -- recent events and scores ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RecentSignal:
    """A milestone, feature gate or churn signal of this name in the last `seconds`."""

    key: str  # "milestone:project_completed", as decide.py records it
    seconds: float

    def holds(self, state: AccountState, now: float) -> bool:
        at = state.signals_at.get(self.key)
        return at is not None and now < at + self.seconds

    def changes_at(self, state: AccountState, now: float) -> float | None:
        at = state.signals_at.get(self.key)
        return at + self.seconds if at is not None and now < at + self.seconds else None

    @property
    def reads(self) -> Reads:
        return Reads(signals=frozenset([self.key]))


@dataclass(frozen=True, slots=True)
class RecentScore:
    """The latest score on a scale within [low, high], if given in the last `seconds`."""

    score_type: str
    low: float = -INFINITY
    high: float = INFINITY
    seconds: float = INFINITY

    def value(self, state: AccountState, now: float) -> float | None:
        latest = state.scores.get(self.score_type)
        return None if latest is None else latest[0]

    def holds(self, state: AccountState, now: float) -> bool:
        latest = state.scores.get(self.score_type)
        if latest is None:
            return False
        score, at = latest
        return self.low <= score <= self.high and now < at + self.seconds

    def changes_at(self, state: AccountState, now: float) -> float | None:
        if self.seconds < INFINITY and self.holds(state, now):
            return state.scores[self.score_type][1] + self.seconds
        return None

    @property
    def reads(self) -> Reads:
        return Reads(scores=frozenset([self.score_type]))
