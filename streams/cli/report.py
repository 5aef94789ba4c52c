"""`upsell report`: is each trigger any good? Figures from outcomes (the outcomes
topic, live, all workers; or a replay's), with intervals, and lift over the holdout.

Per trigger and in total: decisions (fired), held out, shown, accepted,
declined, dismissed, expired, withdrawn, converted, the conversion rate of the
offered group and of the held-out group with 95% Wilson intervals, the lift
(the difference, with Newcombe's 95% interval built from the two Wilson
intervals), expansion MRR, and post-upsell churn. A lift needs MIN_GROUP
decisions in each group; below that the report says "not enough data" rather
than print a number nobody should act on.

Outcomes are counted once per outcome id, so a duplicate an at-least-once
restart may have written changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.outcomes import Outcome
from streams.cli.pretty import columns

MIN_GROUP = 30  # decisions per group before a lift is shown
Z95 = 1.959963984540054
TOTAL = "(all triggers)"

Interval = tuple[float, float]
HEADER = ("trigger", "fired", "held", "shown", "acc", "decl", "dism", "conv", "rate (95% CI)",
          "held-out rate", "lift (95% CI)", "MRR", "churn")


def wilson(successes: int, trials: int, z: float = Z95) -> Interval:
    """The Wilson score interval of a proportion: sound at small counts and near 0
    or 1, where the normal approximation gives intervals below 0."""
    if trials == 0:
        return (0.0, 1.0)
    # More successes than trials: outcomes of decisions the topic no longer holds
    # (retention). Counted as all, rather than failing the report.
    p = min(1.0, successes / trials)
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe(x1: int, n1: int, x2: int, n2: int) -> Interval:
    """Newcombe's hybrid score interval of p1 - p2 (his method 10), from the two
    Wilson intervals."""
    p1, p2 = min(1.0, x1 / n1), min(1.0, x2 / n2)
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    difference = p1 - p2
    return (difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


@dataclass
class TriggerFigures:
    """The counts of one trigger (or all of them), and what follows from them."""

    trigger: str
    offered: int = 0  # made and sent
    held_out: int = 0  # decided for the control group, not sent
    shown: int = 0
    accepted: int = 0
    declined: int = 0
    dismissed: int = 0
    expired: int = 0
    withdrawn: int = 0
    converted: int = 0  # offered group
    converted_held_out: int = 0
    churned: int = 0  # after a conversion of the offered group
    expansion_mrr: float = 0.0  # offered group's conversions with a list price
    custom_priced: int = 0  # conversions to a plan without a list price: no MRR figure

    @property
    def fired(self) -> int:
        return self.offered + self.held_out

    def add(self, outcome: Outcome) -> None:
        status, held_out = outcome.status, outcome.group == "held_out"
        if status == "made":
            self.offered += 1
        elif status == "held_out":
            self.held_out += 1
        elif status == "converted":
            if held_out:
                self.converted_held_out += 1
            else:
                self.converted += 1
                if outcome.expansion_mrr is None:
                    self.custom_priced += 1
                else:
                    self.expansion_mrr += outcome.expansion_mrr
        elif status == "churned":
            if not held_out:
                self.churned += 1
        elif status in ("shown", "accepted", "declined", "dismissed", "expired", "withdrawn"):
            setattr(self, status, getattr(self, status) + 1)

    def summary(self) -> dict[str, Any]:
        """The figures as plain data (what --json prints)."""
        counts = asdict(self)
        counts["fired"] = self.fired
        counts["expansion_mrr"] = round(self.expansion_mrr, 2)
        rate = _rate(self.converted, self.offered)
        control = _rate(self.converted_held_out, self.held_out)
        lift: dict[str, Any] | None = None
        if self.offered >= MIN_GROUP and self.held_out >= MIN_GROUP:
            low, high = newcombe(self.converted, self.offered, self.converted_held_out,
                                 self.held_out)
            lift = {"difference": _round(self.converted / self.offered
                                         - self.converted_held_out / self.held_out),
                    "ci95": [_round(low), _round(high)]}
        return {
            **counts,
            "conversion_rate": rate,
            "held_out_conversion_rate": control,
            "lift": lift if lift is not None else "not enough data",
            "post_upsell_churn_rate": _rate(self.churned, self.converted),
        }


@dataclass
class Report:
    """Figures per trigger, and in total, from a stream of outcomes."""

    triggers: dict[str, TriggerFigures] = field(default_factory=dict)
    total: TriggerFigures = field(default_factory=lambda: TriggerFigures(TOTAL))
    unknown_offers: int = 0  # responses naming an offer the account does not know
    duplicates: int = 0  # outcomes read more than once (an at-least-once restart)
    rules_versions: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Report:
        report = cls()
        for outcome in outcomes:
            report.add(outcome)
        return report

    def add(self, outcome: Outcome) -> None:
        if outcome.outcome_id in self._seen:
            self.duplicates += 1
            return
        self._seen.add(outcome.outcome_id)
        self.rules_versions.add(outcome.rules_version)
        if outcome.status == "unknown_offer" or outcome.trigger_id is None:
            self.unknown_offers += 1
            return
        figures = self.triggers.get(outcome.trigger_id)
        if figures is None:
            figures = self.triggers[outcome.trigger_id] = TriggerFigures(outcome.trigger_id)
        figures.add(outcome)
        self.total.add(outcome)

    def summary(self) -> dict[str, Any]:
        return {
            "triggers": [self.triggers[t].summary() for t in sorted(self.triggers)],
            "total": self.total.summary(),
            "unknown_offer_responses": self.unknown_offers,
            "duplicates_dropped": self.duplicates,
            "rules_versions": sorted(self.rules_versions),
            "min_group_for_lift": MIN_GROUP,
        }

    def rows(self) -> list[tuple[str, ...]]:
        """The table: a header, a row per trigger, the total last (the terminal's and
        the HTML page's)."""
        rows: list[tuple[str, ...]] = [HEADER]
        for figures in [*(self.triggers[t] for t in sorted(self.triggers)), self.total]:
            s = figures.summary()
            rows.append((
                figures.trigger, str(figures.fired), str(figures.held_out), str(figures.shown),
                str(figures.accepted), str(figures.declined), str(figures.dismissed),
                str(figures.converted), _show_rate(s["conversion_rate"]),
                _show_rate(s["held_out_conversion_rate"]), show_lift(s["lift"]),
                show_mrr(figures.expansion_mrr, figures.custom_priced),
                _show_churn(s["post_upsell_churn_rate"]),
            ))
        return rows

    def notes(self) -> list[str]:
        """What the table's columns mean, and what was set aside."""
        notes = [f"lift: offered minus held-out conversion rate; shown once both groups have "
                 f"{MIN_GROUP}+ decisions. MRR: expansion MRR credited (monthly)."]
        if self.unknown_offers:
            notes.append(f"{self.unknown_offers} responses named an offer the engine does not "
                         "know (an id made up, or older than the 16 offers an account keeps)")
        if self.duplicates:
            notes.append(f"{self.duplicates} duplicate outcomes dropped")
        return notes

    def render(self) -> str:
        """A table for the terminal."""
        rows = self.rows()
        lines = columns(rows, rules_under=(0, len(rows) - 2))
        return "\n".join([*lines, "", *self.notes()])


def _rate(successes: int, trials: int) -> dict[str, Any] | None:
    if trials == 0:
        return None
    low, high = wilson(successes, trials)
    return {"value": _round(successes / trials), "ci95": [_round(low), _round(high)],
            "of": trials}


def _round(value: float) -> float:
    return round(value, 4)


def _show_rate(rate: dict[str, Any] | None) -> str:
    if rate is None:
        return "-"
    low, high = rate["ci95"]
    return f"{rate['value']:.1%} ({low:.1%}-{high:.1%})"


def show_lift(lift: dict[str, Any] | str) -> str:
    if isinstance(lift, str):
        return lift
    low, high = lift["ci95"]
    return f"{lift['difference']:+.1%} ({low:+.1%} to {high:+.1%})"


def show_mrr(expansion_mrr: float, custom_priced: int) -> str:
    """e.g. '93 +1 custom': the MRR of list-priced conversions, and how many had none."""
    return f"{expansion_mrr:,.0f}" + (f" +{custom_priced} custom" if custom_priced else "")


def _show_churn(rate: dict[str, Any] | None) -> str:
    return "-" if rate is None else f"{rate['value']:.0%} of {rate['of']}"
