"""`upsell report`'s figures: a hand-computed example, the intervals against
published values, and the lift measured on a simulated base whose true effect is
known (streams/cli/report.py, streams/cli/simulator.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas.outcomes import Outcome
from schemas.rules_file import parse_rules
from streams.cli.replay import ReplaySummary, replay
from streams.cli.report import MIN_GROUP, Report, newcombe, wilson
from streams.cli.simulator import Simulator
from tests.factories import EXAMPLE_RULES
from triggers import RuleBook

AT = datetime(2026, 3, 2, tzinfo=UTC)


def outcome(offer: str, status: str, trigger: str = "seats-80", group: str = "offered",
            mrr: float | None = None) -> Outcome:
    return Outcome(outcome_id=f"{offer}/{status}", offer_id=offer, account_id="a",
                   trigger_id=trigger, kind="upsell", status=status, group=group,  # type: ignore[arg-type]
                   at=AT, caused_by="e", expansion_mrr=mrr, rules_version="v1")


def test_intervals_match_published_values() -> None:
    # Wilson: 0 of 10 and 5 of 10; Newcombe (1998), method 10: 56/70 - 48/80.
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert newcombe(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_figures_of_a_hand_computed_example() -> None:
    """40 offered (10 shown, 4 accepted, 2 declined, 1 dismissed; 8 converted, 30 MRR
    each but one custom-priced; 2 of them churned) and 40 held out (2 converted)."""
    made = [outcome(f"o{i}", "made") for i in range(40)]
    shown = [outcome(f"o{i}", "shown") for i in range(10)]
    answers = ([outcome(f"o{i}", "accepted") for i in range(4)]
               + [outcome("o4", "declined"), outcome("o5", "declined"), outcome("o6", "dismissed")])
    converted = [outcome(f"o{i}", "converted", mrr=30.0) for i in range(7)] + [
        outcome("o7", "converted")]
    churned = [outcome("o0", "churned"), outcome("o1", "churned")]
    held = [outcome(f"h{i}", "held_out", group="held_out") for i in range(40)]
    held_converted = [outcome(f"h{i}", "converted", group="held_out", mrr=30.0) for i in range(2)]
    other = [outcome("x", "made", trigger="nps"), outcome("x", "made", trigger="nps")]  # a duplicate
    unknown = Outcome(outcome_id="u", offer_id="nope", account_id="a", trigger_id=None,
                      status="unknown_offer", at=AT, caused_by="e", rules_version="v1")
    report = Report.of([*made, *shown, *answers, *converted, *churned, *held, *held_converted,
                        *other, unknown])
    figures = report.summary()
    [nps, seats] = figures["triggers"]
    assert (seats["fired"], seats["offered"], seats["held_out"]) == (80, 40, 40)
    assert (seats["shown"], seats["accepted"], seats["declined"], seats["dismissed"]) == (
        10, 4, 2, 1)
    assert (seats["converted"], seats["converted_held_out"], seats["churned"]) == (8, 2, 2)
    assert (seats["expansion_mrr"], seats["custom_priced"]) == (210.0, 1)  # held out: not counted
    assert seats["conversion_rate"]["value"] == 0.2  # 8 / 40
    assert seats["held_out_conversion_rate"]["value"] == 0.05  # 2 / 40
    assert seats["conversion_rate"]["ci95"] == pytest.approx(list(wilson(8, 40)), abs=1e-4)
    assert seats["lift"]["difference"] == 0.15
    assert seats["lift"]["ci95"] == pytest.approx(list(newcombe(8, 40, 2, 40)), abs=1e-4)
    assert seats["post_upsell_churn_rate"]["value"] == 0.25  # 2 of 8
    assert nps["offered"] == 1 and nps["lift"] == "not enough data"
    assert figures["total"]["fired"] == 81
    assert (figures["unknown_offer_responses"], figures["duplicates_dropped"]) == (1, 1)
    table = report.render()
    assert "20.0% (10.5%-34.8%)" in table and "+15.0%" in table and "210 +1 custom" in table


def test_more_conversions_than_decisions_on_the_topic_do_not_break_the_report() -> None:
    """Retention may have deleted the `made` outcomes of conversions still kept."""
    kept = [outcome("o1", "made"), *(outcome(f"o{i}", "converted", mrr=1.0) for i in range(3))]
    assert Report.of(kept).summary()["total"]["conversion_rate"]["ci95"][1] == 1.0
    assert "%" in Report.of(kept).render()


def test_lift_needs_enough_decisions_in_both_groups() -> None:
    few_held = [outcome(f"o{i}", "made") for i in range(100)] + [
        outcome(f"h{i}", "held_out", group="held_out") for i in range(MIN_GROUP - 1)]
    assert Report.of(few_held).summary()["total"]["lift"] == "not enough data"


def test_the_measured_lift_holds_the_simulated_effect_within_its_interval() -> None:
    """Held-out customers change plan on their own at a third of the rate they would
    take the offer: the designed lift (Simulator.effect) must lie within the interval
    the report measures, and the run is long enough for that interval to exclude 0."""
    text = EXAMPLE_RULES.read_text().replace('holdout: {share: 0.1, salt: "2026-q4"}',
                                             'holdout: {share: 0.5, salt: "effect"}')
    book = RuleBook.compile(parse_rules(text, "effect.yaml"))
    simulator = Simulator(book, 400, seed=9)
    lines = [orjson.dumps(event) for event in simulator.events(90)]
    summary = ReplaySummary(outcomes=[])
    list(replay(lines, book, summary))
    assert summary.outcomes is not None
    measured = Report.of(summary.outcomes).summary()["total"]["lift"]
    low, high = measured["ci95"]
    assert low > 0
    assert low <= simulator.effect.lift <= high
