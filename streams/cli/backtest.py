"""Backtest: two versions of the rules over the same history, side by side.

`upsell replay --rules NEW.yaml --compare OLD.yaml EVENTS` runs each version
on its own table of accounts over the same events (decoded once, fed to both
in file order), and says per trigger: the offers each makes (held-out decisions
apart), those only one of them makes, how often each guard held a fired
trigger back, and what each run's outcomes credit it with (conversions and
expansion MRR of the offered group).

Offers are matched by offer id, a hash of (account, trigger, causing event or
due time) with no rules version in it (triggers/offers.py): the same decision
under both versions has the same id, so the history's responses to it answer
it in both runs. A renamed trigger is one removed and one added.

What the credit can and cannot say: the responses in the history answer the
offers the live rules made, and its plan changes happened with those offers
in front of the customers. An offer only NEW makes has no response in the
history (nobody saw it), so it is credited only with plan changes that happen
anyway (organic ones, or ones another offer brought about): an estimate of the
credit NEW would claim, not of the upgrades it would cause. The holdout's
conversion rate (`upsell report`) is the measure of what happens anyway.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.events import Event
from streams.cli.pretty import columns
from streams.cli.replay import ReplaySummary, decoded, table_for
from streams.cli.report import show_mrr
from triggers import RuleBook

OLD, NEW = "old", "new"
TOTAL = "(all triggers)"
CAVEAT = (
    "Credit assumes OLD is the rules that were live when the history was recorded: its "
    "responses answer OLD's offers, and its plan changes happened with OLD's offers in front "
    "of the customers. An offer only NEW makes was never seen, so no response in the history "
    "answers it: it is credited only with plan changes that happen anyway (organic), which "
    "says what NEW would claim, not what it would cause. The holdout's conversion rate "
    "(`upsell report`) measures what happens anyway."
)


@dataclass
class Run:
    """One version's replay: what it decided, held back and was credited with."""

    book: RuleBook
    partitions: int = 1
    decisions: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id: trigger, held out
    conversions: dict[str, tuple[str, float | None]] = field(default_factory=dict)  # id: trigger, MRR
    held_back: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trigger, guard)
    unknown_offer_responses: int = 0

    def __post_init__(self) -> None:
        self.table = table_for(self.book, self.partitions)

    def apply(self, event: Event) -> None:
        for result in self.table.apply(event):
            for suppression in result.suppressed:
                self.held_back[(suppression.trigger_id, suppression.guard)] += 1
            for outcome in result.outcomes:
                status, trigger = outcome.status, outcome.trigger_id
                if trigger is None or status == "unknown_offer":
                    self.unknown_offer_responses += 1
                elif status in ("made", "held_out"):
                    self.decisions[outcome.offer_id] = (trigger, status == "held_out")
                elif status == "converted" and outcome.group == "offered":
                    self.conversions[outcome.offer_id] = (trigger, outcome.expansion_mrr)


@dataclass
class Side:
    """One version's figures for one trigger (or all of them)."""

    offers: int = 0  # made and sent
    held_out: int = 0  # decided for the control group, not sent
    only_here: int = 0  # decisions (held-out ones too) the other version does not make
    converted: int = 0  # offered group
    expansion_mrr: float = 0.0
    custom_priced: int = 0  # conversions to a plan without a list price: no MRR figure
    converted_only_here: int = 0  # of `converted`: offers only this version makes
    expansion_mrr_only_here: float = 0.0
    held_back: Counter[str] = field(default_factory=Counter)  # by guard

    def summary(self) -> dict[str, Any]:
        return {
            "offers": self.offers, "held_out": self.held_out, "only_here": self.only_here,
            "converted": self.converted, "expansion_mrr": round(self.expansion_mrr, 2),
            "custom_priced": self.custom_priced, "converted_only_here": self.converted_only_here,
            "expansion_mrr_only_here": round(self.expansion_mrr_only_here, 2),
            "held_back": dict(sorted(self.held_back.items())),
        }


@dataclass
class Backtest:
    """The two runs over one history, compared per trigger."""

    old: Run
    new: Run
    read: ReplaySummary = field(default_factory=ReplaySummary)  # events and bad lines

    @classmethod
    def of(cls, lines: Iterable[bytes], new: RuleBook, old: RuleBook,
           partitions: int = 1) -> Backtest:
        backtest = cls(Run(old, partitions), Run(new, partitions))
        for event in decoded(lines, backtest.read):
            backtest.old.apply(event)
            backtest.new.apply(event)
        backtest.read.accounts = len(backtest.new.table)
        return backtest

    def triggers(self) -> list[str]:
        """Every trigger either version defines, by id."""
        return sorted({t.id for run in (self.old, self.new) for t in run.book.rules.triggers})

    def sides(self) -> dict[str, tuple[Side, Side]]:
        """(old, new) figures per trigger, and in total under TOTAL."""
        figures = {trigger: (Side(), Side()) for trigger in [*self.triggers(), TOTAL]}
        for index, (run, other) in enumerate(((self.old, self.new), (self.new, self.old))):
            for offer_id, (trigger, held_out) in run.decisions.items():
                only = offer_id not in other.decisions
                for side in (figures[trigger][index], figures[TOTAL][index]):
                    side.held_out += held_out
                    side.offers += not held_out
                    side.only_here += only
            for offer_id, (trigger, mrr) in run.conversions.items():
                only = offer_id not in other.decisions
                for side in (figures[trigger][index], figures[TOTAL][index]):
                    side.converted += 1
                    side.converted_only_here += only
                    side.custom_priced += mrr is None
                    side.expansion_mrr += mrr or 0.0
                    side.expansion_mrr_only_here += (mrr or 0.0) if only else 0.0
            for (trigger, guard), times in run.held_back.items():
                figures[trigger][index].held_back[guard] += times
                figures[TOTAL][index].held_back[guard] += times
        return figures

    def summary(self) -> dict[str, Any]:
        """The comparison as plain data (what --json prints)."""
        sides = self.sides()
        differs = _differs(sides)
        total = sides.pop(TOTAL)
        defined = {run_name: {t.id for t in run.book.rules.triggers}
                   for run_name, run in ((OLD, self.old), (NEW, self.new))}
        return {
            OLD: {"rules_version": self.old.book.version},
            NEW: {"rules_version": self.new.book.version},
            "events": self.read.events, "accounts": self.read.accounts,
            "bad_lines": len(self.read.bad_lines),
            "triggers": [{"trigger": trigger,
                          "defined_in": [name for name in (OLD, NEW) if trigger in defined[name]],
                          OLD: old.summary(), NEW: new.summary()}
                         for trigger, (old, new) in sides.items()],
            "total": {OLD: total[0].summary(), NEW: total[1].summary()},
            "unknown_offer_responses": {OLD: self.old.unknown_offer_responses,
                                        NEW: self.new.unknown_offer_responses},
            "differs": differs,
            "caveat": CAVEAT,
        }

    def render(self) -> str:
        """Side by side, for the terminal."""
        sides = self.sides()
        defined_old = {t.id for t in self.old.book.rules.triggers}
        defined_new = {t.id for t in self.new.book.rules.triggers}
        rows: list[tuple[str, ...]] = [
            ("", "offers", "", "held out", "", "only in", "", "converted", "", "MRR", ""),
            ("trigger", *(["OLD", "NEW"] * 5)),
        ]
        for trigger, (old, new) in sides.items():
            label = trigger
            if trigger != TOTAL and trigger not in defined_new:
                label += " (removed)"
            elif trigger != TOTAL and trigger not in defined_old:
                label += " (new)"
            rows.append((label, *(str(n) for n in (old.offers, new.offers, old.held_out,
                                                   new.held_out, old.only_here, new.only_here,
                                                   old.converted, new.converted)),
                         show_mrr(old.expansion_mrr, old.custom_priced),
                         show_mrr(new.expansion_mrr, new.custom_priced)))
        lines = [
            f"backtest: NEW rules {self.new.book.version} against OLD rules "
            f"{self.old.book.version}",
            f"events read: {self.read.events} ({self.read.accounts} accounts), "
            f"bad lines: {len(self.read.bad_lines)}",
            "",
            *columns(rows, rules_under=(1, len(rows) - 2)),
            "",
            "held back (times a fired trigger made no offer, by guard or reason):",
            *_held_back_table(sides),
            "",
        ]
        total_old, total_new = sides[TOTAL]
        lines.extend([
            f"credited to offers only NEW makes (from organic plan changes alone): "
            f"{_credit(total_new)}",
            f"credited to offers only OLD makes (credit NEW gives up; the upgrades may happen "
            f"anyway): {_credit(total_old)}",
            f"responses in the history to offers a version does not make: OLD "
            f"{self.old.unknown_offer_responses}, NEW {self.new.unknown_offer_responses}",
        ])
        if not _differs(sides):
            lines.append("no difference: both versions decide, hold back and are credited alike")
        lines.extend(["", textwrap.fill(CAVEAT, 100)])
        return "\n".join(lines)


def _differs(sides: dict[str, tuple[Side, Side]]) -> bool:
    """Any decision only one version makes (equal counts may be different offers), or
    any figure that is not the same."""
    return any(old != new or old.only_here for old, new in sides.values())


def _credit(side: Side) -> str:
    return (f"{side.converted_only_here} conversion{'' if side.converted_only_here == 1 else 's'}, "
            f"{side.expansion_mrr_only_here:,.0f} MRR")


def _held_back_table(sides: dict[str, tuple[Side, Side]]) -> list[str]:
    rows: list[tuple[str, ...]] = [("trigger", "guard", "OLD", "NEW")]
    for trigger, (old, new) in sides.items():
        if trigger == TOTAL:
            continue
        for guard in sorted(old.held_back.keys() | new.held_back.keys()):
            rows.append((trigger, guard, str(old.held_back[guard]), str(new.held_back[guard])))
    if len(rows) == 1:
        return ["  none"]
    old, new = sides[TOTAL]
    rows.append((TOTAL, "", str(old.held_back.total()), str(new.held_back.total())))
    return columns(rows, rules_under=(0, len(rows) - 2), left=2)
