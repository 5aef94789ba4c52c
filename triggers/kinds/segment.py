"""segment: an account enters a segment ("payroll customers once they reach 10+
employees": cross-sell the accounting add-on). Fires once per entry, when its
`when:` becomes true, and is re-armed when the account leaves.

What can move an account into a segment is a change of what it is, so a
segment is decided on account events (attributes) and subscription events
(plan, add-ons, signup), on the account as the event leaves it
(triggers/account_events.py). Subscription events count even for a segment
that does not read the plan: what can be offered depends on the plan, so an
account that told its attributes before its first subscription enters then,
and an entry a guard held back is tried again. Leaves on metrics, recent
events and scores are read as they are at that moment; they do not make an
entry by themselves, nor does time (a tenure bound reached).

The reason quotes the first leaf that must hold for the account to be in the
segment and has a number to tell ("your team has reached 12 employees",
"41 of 50 seats used (82%)"); a segment of attributes alone is named
("you are now in the segment growing payroll teams").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.offers import Reason
from schemas.rules import RulesFile, SegmentTrigger
from triggers.conditions import MET, NOT_MET, Signal
from triggers.kinds.registry import register
from triggers.kinds.usage_threshold import UsageWords
from triggers.leaves import (
    AttributeBetween,
    Compiled,
    MetricBetween,
    MrrBetween,
    RecentScore,
    RecentSignal,
    TenureBetween,
)
from triggers.state import AccountState
from triggers.trigger import Firing
from triggers.when import compile_when, required_leaves
from triggers.wording import format_number, reason_with, words

# The channels a segment listens on: no event speaks on them through decide's
# usage and signal handlers; account_events.py decides them after a change.
ACCOUNT_CHANGED: Signal = ("account", "attributes")
SUBSCRIPTION_CHANGED: Signal = ("subscription", "plan")

# Leaves a reason can quote: a number, or a recent event.
_TELLING = (AttributeBetween, MetricBetween, MrrBetween, TenureBetween, RecentScore, RecentSignal)


@dataclass(frozen=True, slots=True)
class InSegment:
    """MET while the account is in the segment; remembered, so it fires once per entry."""

    segment: Compiled
    listens_on: tuple[Signal, ...] = field(default=(ACCOUNT_CHANGED, SUBSCRIPTION_CHANGED),
                                           init=False)
    remembers: bool = field(default=True, init=False)

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        return MET if self.segment.holds(state, now) else NOT_MET


@dataclass(frozen=True, slots=True)
class Segment:
    condition: InSegment
    name: str  # how the segment is named in a generic reason
    telling: Compiled | None  # the leaf its reason quotes
    metric_words: UsageWords | None  # when that leaf is a metric

    @classmethod
    def compile(cls, spec: SegmentTrigger, rules: RulesFile) -> Segment:
        segment = compile_when(spec.when, rules)
        telling = next(
            (leaf for leaf in required_leaves(segment) if isinstance(leaf, _TELLING)), None
        )
        metric_words = (
            UsageWords.of(telling.metric, rules) if isinstance(telling, MetricBetween) else None
        )
        return cls(InSegment(segment), spec.name or words(spec.id), telling, metric_words)

    def measure(self, state: AccountState, now: float) -> tuple[float, float | None]:
        """The number its reason quotes and a metric's limit, for the account as it
        enters (a Firing's value and limit)."""
        leaf = self.telling
        if isinstance(leaf, AttributeBetween | MrrBetween | RecentScore | MetricBetween):
            value = leaf.value(state, now)
            limit = leaf.limit(state) if isinstance(leaf, MetricBetween) else None
            return (value if value is not None else 0.0), limit
        if isinstance(leaf, TenureBetween):
            return leaf.days(state, now) or 0.0, None
        return 0.0, None

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        leaf, value = self.telling, firing.value
        number = format_number(value)
        if isinstance(leaf, AttributeBetween):
            if leaf.name == "employees":
                reached = leaf.low > float("-inf")  # it entered by reaching a headcount
                text = (f"your team has reached {number} employees" if reached
                        else f"your team is now {number} employees")
            else:
                text = f"your {words(leaf.name)} is now {number}"
            return reason_with(text=text, value=value)
        if isinstance(leaf, MetricBetween):
            assert self.metric_words is not None
            return self._metric_reason(leaf, firing, self.metric_words)
        if isinstance(leaf, MrrBetween):
            return reason_with(text=f"your subscription is now {number} a month", value=value)
        if isinstance(leaf, TenureBetween):
            return reason_with(text=f"{number} days since you signed up", tenure_days=value)
        if isinstance(leaf, RecentScore):
            scale = "NPS" if leaf.score_type == "nps" else words(leaf.score_type)
            return reason_with(text=f"{scale} score of {number}", score_type=leaf.score_type,
                               score=value)
        if isinstance(leaf, RecentSignal):
            return _signal_reason(leaf.key)
        return reason_with(text=f"you are now in the segment {self.name}")

    @staticmethod
    def _metric_reason(leaf: MetricBetween, firing: Firing, metric_words: UsageWords) -> Reason:
        value, limit = firing.value, firing.limit
        used = f"{format_number(value)} {metric_words.label} used{metric_words.period}"
        percent = None
        if limit is not None and (leaf.percent_low is not None or leaf.percent_high is not None):
            percent = round(value * 100 / limit, 1)
            used = (f"{format_number(value)} of {format_number(limit)} {metric_words.label} "
                    f"used{metric_words.period} ({format_number(round(percent))}%)")
        return reason_with(text=used, metric=leaf.metric, value=value, limit=limit,
                           percent=percent)


def _signal_reason(key: str) -> Reason:
    channel, _, name = key.partition(":")
    if channel == "milestone":
        return reason_with(text=f"reached a milestone: {words(name)}", milestone=name)
    if channel == "feature":
        return reason_with(text=f"tried {words(name)}", feature=name)
    return reason_with(text=f"churn signal: {words(name)}", signal=name)


register("segment", SegmentTrigger, Segment.compile)
