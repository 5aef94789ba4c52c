"""forecast: at the account's trend, a gauge reaches the plan's limit within N days
("at this pace all 50 seats are used in about 12 days (41 now, +3 a week)"):
the upgrade offered before the customer hits the wall, not after.

The trend is the least-squares slope of the daily samples of the last
`window_days` plus this reading, per day, and is only trusted over at least
`min_samples` distinct days. Once per limit: the trigger stays fired while the
forecast holds and re-arms when it moves out (the trend flattens or turns, the
limit moves beyond `within_days`, or the limit is reached, which is
limit_reached's moment). No limit, no forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.offers import Reason
from schemas.rules import ForecastTrigger, RulesFile
from triggers.conditions import MET, METRIC, NOT_MET, Signal
from triggers.history import day_of, readings_within, slope_per_day
from triggers.kinds.growth import days_text
from triggers.kinds.registry import register
from triggers.kinds.usage_threshold import UsageWords
from triggers.state import AccountState
from triggers.trigger import Firing
from triggers.wording import format_number, reason_with

WEEK = 7  # days: the trend is quoted per week, the pace a customer thinks in


@dataclass(frozen=True, slots=True)
class ReachesLimit:
    """A gauge whose trend reaches the plan's limit within `within_days`."""

    metric: str
    within_days: float
    history_days: int  # the trend's window; the rule book keeps this many days of samples
    min_samples: int
    remembers: bool = field(default=True, init=False)

    @property
    def listens_on(self) -> tuple[Signal, ...]:
        return ((METRIC, self.metric),)

    def level(
        self, state: AccountState, signal: Signal, value: float, limit: float | None, now: float
    ) -> int:
        if limit is None or value >= limit:
            return NOT_MET  # unlimited, or already there (limit_reached says so)
        slope = self.anchor(state, value, now)
        if slope is None or slope <= 0:
            return NOT_MET  # too few days to trust a trend, or not growing
        # "(limit - value) / slope <= within_days", without the division.
        return MET if limit - value <= self.within_days * slope else NOT_MET

    def anchor(self, state: AccountState, value: float, now: float) -> float | None:
        """The trend per day over the window, this reading included (None: fewer
        than `min_samples` days). What the reason counts the days left with."""
        today = day_of(now)
        samples = state.samples.get(self.metric)
        points = readings_within(samples, today, self.history_days) if samples else []
        if len(points) + 1 < self.min_samples:
            return None
        points.append((today, value))  # a slice of the samples: the state is untouched
        return slope_per_day(points)


def about_days(days: float) -> str:
    """'in about 12 days', 'in about a day'."""
    whole = round(days)
    return "in about a day" if whole <= 1 else f"in about {format_number(whole)} days"


@dataclass(frozen=True, slots=True)
class Forecast:
    condition: ReachesLimit
    label: str

    @classmethod
    def compile(cls, spec: ForecastTrigger, rules: RulesFile) -> Forecast:
        condition = ReachesLimit(spec.metric, spec.within_days, spec.window_days, spec.min_samples)
        return cls(condition, UsageWords.of(spec.metric, rules).label)

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        value, limit, slope = firing.value, firing.limit, firing.anchor
        assert limit is not None, "a forecast only fires under a limit"
        metric = self.condition.metric
        head = f"at this pace all {format_number(limit)} {self.label} are used"
        if slope is None or slope <= 0:  # the core passed no trend: say what the rule says
            return reason_with(
                text=f"{head} within {days_text(self.condition.within_days)} "
                     f"({format_number(value)} now)",
                metric=metric, value=value, limit=limit,
            )
        days_left = (limit - value) / slope
        per_week = slope * WEEK
        rate = round(per_week, 1) or round(per_week, 2)  # "+3", "+0.4"; a slow trend still shows
        return reason_with(
            text=f"{head} {about_days(days_left)} ({format_number(value)} now, "
                 f"+{format_number(rate)} a week)",
            metric=metric, value=value, limit=limit,
            days_left=round(days_left, 1), rate_per_week=round(per_week, 2),
        )


register("forecast", ForecastTrigger, Forecast.compile)
