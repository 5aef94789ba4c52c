"""Conditions: the predicates a trigger fires on, over an account and an event.

A condition listens on signals (what an event says: a metric's new level, a
feature tried, a milestone, a score, a churn signal), and the rule book
indexes triggers by them, so an event only looks at the conditions it can
make true. `level` answers "is it met, and how far?": NOT_MET, MET for a plain
predicate, or the index of the highest level reached for a condition with
levels. A condition that `remembers` fires once per crossing: the core keeps
the level it fired at in the account (`fired_levels`) and re-arms it when the
level falls below.

Conditions read the state as it was before the event, and the event's
signal and numbers (decided but not yet applied: a metric's new level and the
plan's limit for it, or a score); they never write.

A timed condition (before_renewal, tenure, inactivity) listens on no signal:
it names the windows of time in which its trigger may fire (`window`), and
triggers/timers.py works out the first moment in a window when the trigger
can fire, which the sweep looks up. A segment (`when:`, triggers/when.py)
narrows any trigger, timed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from triggers.state import AccountState

Signal = tuple[str, str]  # (channel, key), e.g. ("metric", "seats")

# The channels events speak on, one per event type that can fire a trigger.
METRIC = "metric"  # usage: the metric's level after the reading (gauge or period total)
FEATURE = "feature"  # feature_gate: the feature tried
MILESTONE = "milestone"  # milestone: its name
SCORE = "score"  # nps / csat / health_score: the scale
CHURN_SIGNAL = "churn_signal"  # churn_signal: its name

NOT_MET = -1
MET = 0


class Condition(Protocol):
    """A predicate over an account and an event."""

    @property
    def listens_on(self) -> tuple[Signal, ...]:
        """The signals that can make it true: where the rule book indexes it."""
        ...

    @property
    def remembers(self) -> bool:
        """True: fires once per crossing of a level, not on every event it is met."""
        ...

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        """NOT_MET, MET, or the index of the highest level met. `value`: a metric's
        level after this event, or a score; `limit`: the plan's limit for that
        metric (None: unlimited, or not a metric); `now`: the event's time."""
        ...


@dataclass(frozen=True, slots=True)
class UsageAtLevel:
    """A metric at or above a percentage of the plan's limit (none: never)."""

    metric: str
    levels: tuple[float, ...]  # percents, increasing
    remembers: bool = field(default=True, init=False)

    @property
    def listens_on(self) -> tuple[Signal, ...]:
        return ((METRIC, self.metric),)

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        if limit is None:
            return NOT_MET
        current = NOT_MET
        for level in self.levels:  # increasing: count the levels met
            # Integer-safe "value / limit >= level %": 8 of 10 is exactly 80%.
            if value * 100 >= level * limit:
                current += 1
            else:
                break
        return current


@dataclass(frozen=True, slots=True)
class Happened:
    """The event itself: a feature tried, a milestone reached, a churn signal sent."""

    signal: Signal
    remembers: bool = field(default=False, init=False)

    @property
    def listens_on(self) -> tuple[Signal, ...]:
        return (self.signal,)

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        return MET


@dataclass(frozen=True, slots=True)
class ScoreAtLeast:
    """A score on one scale at or above a value."""

    score_type: str
    at_least: float
    remembers: bool = field(default=False, init=False)

    @property
    def listens_on(self) -> tuple[Signal, ...]:
        return ((SCORE, self.score_type),)

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        return MET if value >= self.at_least else NOT_MET


class Window(NamedTuple):
    """A span of time in which a timed trigger may fire once."""

    start: float
    end: float  # exclusive; inf: open-ended
    key: float  # what the account remembers once it fired here (its fired_windows)
    anchor: float  # the time its reason counts from: the renewal, signup, last usage


@runtime_checkable
class TimedCondition(Protocol):
    """A condition on time: fires with no event, in windows computed from the state."""

    @property
    def listens_on(self) -> tuple[Signal, ...]: ...

    @property
    def remembers(self) -> bool: ...

    def window(self, state: AccountState, after: float) -> Window | None:
        """The first window this trigger has not fired in that ends after `after`
        (None: there is none, until an event changes the state)."""
        ...


class OnTime:
    """What every timed condition shares: it listens on no signal, so no event
    meets it (`level` is never called by the core); only the sweep fires it."""

    __slots__ = ()
    listens_on: tuple[Signal, ...] = ()
    remembers = False

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        return NOT_MET
