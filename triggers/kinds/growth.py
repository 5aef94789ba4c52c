"""growth: a gauge rising by at least +N or +X% within D days ("seats grew from 12
to 18 (+6) in the last 30 days"): the account is expanding, the moment to offer the next
tier before the limit bites.

The rise is measured from the lowest level of the window (the daily samples
before this reading, and the level carried into the window: see
triggers/history.py) to this reading. Once per growth spurt: the trigger stays
fired while the rise holds within the window and re-arms once it no longer
does, so steady growth fires again only after it has paused for a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.offers import Reason
from schemas.rules import GrowthTrigger, RulesFile
from triggers.conditions import MET, METRIC, NOT_MET, Signal
from triggers.history import day_of, lowest_over
from triggers.kinds.registry import register
from triggers.kinds.usage_threshold import UsageWords
from triggers.state import AccountState
from triggers.trigger import Firing
from triggers.wording import format_number, reason_with


@dataclass(frozen=True, slots=True)
class RoseBy:
    """A gauge at least `by` above its lowest level of the last `history_days`
    days (`relative`: `by` percent above it)."""

    metric: str
    by: float
    relative: bool
    history_days: int  # the window; the rule book keeps this many days of samples
    remembers: bool = field(default=True, init=False)

    @property
    def listens_on(self) -> tuple[Signal, ...]:
        return ((METRIC, self.metric),)

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        baseline = self.anchor(state, value, now)
        if baseline is None:
            return NOT_MET
        rise = value - baseline
        if not self.relative:
            return MET if rise >= self.by else NOT_MET
        # From 0 any rise is an infinite percentage: every account's first seats
        # would fire every percent rule. Growth from nothing is what `by` is for.
        if baseline <= 0:
            return NOT_MET
        # Integer-safe "rise / baseline >= by %": 10 to 20 is exactly +100%.
        return MET if rise * 100 >= self.by * baseline else NOT_MET

    def anchor(self, state: AccountState, value: float, now: float) -> float | None:
        """The baseline: the lowest level of the window before this reading (None:
        no reading yet). What the reason counts the rise from."""
        samples = state.samples.get(self.metric)
        if not samples:
            return None
        return lowest_over(samples, day_of(now), self.history_days)


def days_text(days: float) -> str:
    """'30 days', '1 day'."""
    return f"{format_number(days)} day{'' if days == 1 else 's'}"


def change_reason(
    label: str, verb: str, metric: str, value: float, baseline: float | None,
    window_days: int, percent: bool,
) -> Reason:
    """'seats grew from 12 to 18 (+6) in the last 30 days', 'seats fell from 40 to 12 (-70%)
    in the last 30 days'; without a baseline (not passed by the core), the level reached."""
    if baseline is None:
        return reason_with(
            text=f"{label} {verb} to {format_number(value)} in the last {days_text(window_days)}",
            metric=metric, value=value, window_days=window_days,
        )
    change = value - baseline
    if percent and baseline > 0:
        amount = f"{format_number(round(abs(change) * 100 / baseline))}%"
    else:
        amount = format_number(abs(change))
    text = (
        f"{label} {verb} from {format_number(baseline)} to {format_number(value)} "
        f"({'-' if change < 0 else '+'}{amount}) in the last {days_text(window_days)}"
    )
    return reason_with(text=text, metric=metric, value=value, baseline=baseline,
                       window_days=window_days)


@dataclass(frozen=True, slots=True)
class Growth:
    condition: RoseBy
    label: str

    @classmethod
    def compile(cls, spec: GrowthTrigger, rules: RulesFile) -> Growth:
        relative = spec.by_percent is not None
        by = spec.by_percent if spec.by_percent is not None else spec.by
        assert by is not None, "the rules model requires one of 'by' and 'by_percent'"
        condition = RoseBy(spec.metric, by, relative, spec.within_days)
        return cls(condition, UsageWords.of(spec.metric, rules).label)

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        condition = self.condition
        return change_reason(self.label, "grew", condition.metric, firing.value, firing.anchor,
                             condition.history_days, condition.relative)


register("growth", GrowthTrigger, Growth.compile)
