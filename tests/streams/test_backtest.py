"""The backtest (streams/cli/backtest.py, `upsell replay --compare`): a NEW version
that lowers a threshold, removes a trigger and adds a guard, against the OLD one
on a small history, with every figure worked out by hand; and a version compared
with itself, which differs in nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from schemas.rules_file import parse_rules
from streams.cli.backtest import NEW, OLD, Backtest
from streams.cli.main import main
from tests.factories import CATALOGUE, event_json, example_book
from tests.streams.kafka_helpers import EXAMPLE_EVENTS
from triggers import RuleBook
from triggers.offers import offer_id_for

OLD_RULES = CATALOGUE + """
triggers:
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}}
  - {id: calls-80, kind: usage_threshold, metric: api_calls, levels: [80],
     offer: {kind: upsell, recommend: next_tier}}
  - {id: done, kind: milestone, name: project_completed,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
"""
# Seats at 60% instead of 80%, no calls-80, and at most one offer a week per account.
NEW_RULES = CATALOGUE + """
triggers:
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [60],
     offer: {kind: upsell, recommend: next_tier}}
  - {id: done, kind: milestone, name: project_completed,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
guards:
  account_cap: {max_offers: 1, per_days: 7}
"""

# The history the OLD rules lived: responses name OLD's offers.
OLD_ACME_SEATS = offer_id_for("acme", "seats-80", "acme-seats-9")
OLD_GLOBEX_CALLS = offer_id_for("globex", "calls-80", "globex-calls")
DONE = offer_id_for("globex", "done", "globex-done")  # both versions make this one
HISTORY = [
    event_json("subscription", "acme", -1, "acme-signup", plan="basic"),
    event_json("subscription", "globex", -1, "globex-signup", plan="basic"),
    # acme: 7 of 10 seats fires NEW's 60% (not OLD's 80%); 9 fires OLD's (NEW's is spent).
    event_json("usage", "acme", 0, "acme-seats-7", metric="seats", value=7),
    event_json("usage", "acme", 1, "acme-seats-9", metric="seats", value=9),
    event_json("offer_response", "acme", 2, "acme-shown", offer_id=OLD_ACME_SEATS,
               response="shown"),
    event_json("subscription", "acme", 3, "acme-upgrade", plan="pro"),  # +78 MRR
    # globex: 900 of 1,000 calls fires OLD's calls-80 (NEW has none); a project done fires
    # `done` in both; 8 seats fires seats-80 in both, but NEW's cap holds it back.
    event_json("usage", "globex", 0, "globex-calls", metric="api_calls", delta=900),
    event_json("offer_response", "globex", 0.5, "globex-calls-shown",
               offer_id=OLD_GLOBEX_CALLS, response="shown"),
    event_json("milestone", "globex", 1, "globex-done", name="project_completed"),
    event_json("offer_response", "globex", 1.5, "globex-done-shown", offer_id=DONE,
               response="shown"),
    event_json("usage", "globex", 2, "globex-seats-8", metric="seats", value=8),
    event_json("subscription", "globex", 3, "globex-reports", plan="basic",
               addons=["reports"]),  # +15 MRR
]


def books() -> tuple[RuleBook, RuleBook]:
    return (RuleBook.compile(parse_rules(NEW_RULES, "new.yaml")),
            RuleBook.compile(parse_rules(OLD_RULES, "old.yaml")))


def side(offers: int = 0, only_here: int = 0, converted: int = 0, mrr: float = 0.0,
         converted_only_here: int = 0, mrr_only_here: float = 0.0,
         held_back: dict[str, int] | None = None) -> dict[str, object]:
    return {"offers": offers, "held_out": 0, "only_here": only_here, "converted": converted,
            "expansion_mrr": mrr, "custom_priced": 0, "converted_only_here": converted_only_here,
            "expansion_mrr_only_here": mrr_only_here, "held_back": held_back or {}}


def test_a_lower_threshold_a_removed_trigger_and_a_new_guard_side_by_side() -> None:
    new, old = books()
    summary = Backtest.of(HISTORY, new, old).summary()
    by_trigger = {t["trigger"]: t for t in summary["triggers"]}
    assert list(by_trigger) == ["calls-80", "done", "seats-80"]
    # Removed: OLD's offer is OLD's alone; its answer is a response NEW does not know.
    assert by_trigger["calls-80"]["defined_in"] == [OLD]
    assert by_trigger["calls-80"][OLD] == side(offers=1, only_here=1)
    assert by_trigger["calls-80"][NEW] == side()
    # The same decision under both versions: the same offer id, the same answers, the same credit.
    assert by_trigger["done"][OLD] == by_trigger["done"][NEW] == side(offers=1, converted=1,
                                                                      mrr=15.0)
    # OLD: acme at 9 seats (shown, then the upgrade) and globex at 8, which NEW's cap holds
    # back. NEW: acme at 7 seats, never shown, credited with the same upgrade: organic.
    assert by_trigger["seats-80"][OLD] == side(offers=2, only_here=2, converted=1, mrr=78.0,
                                               converted_only_here=1, mrr_only_here=78.0)
    assert by_trigger["seats-80"][NEW] == side(offers=1, only_here=1, converted=1, mrr=78.0,
                                               converted_only_here=1, mrr_only_here=78.0,
                                               held_back={"account_cap": 1})
    assert summary["total"][OLD] == side(offers=4, only_here=3, converted=2, mrr=93.0,
                                         converted_only_here=1, mrr_only_here=78.0)
    assert summary["total"][NEW] == side(offers=2, only_here=1, converted=2, mrr=93.0,
                                         converted_only_here=1, mrr_only_here=78.0,
                                         held_back={"account_cap": 1})
    assert summary["unknown_offer_responses"] == {OLD: 0, NEW: 2}  # acme's and globex's shown
    assert (summary["events"], summary["accounts"], summary["bad_lines"]) == (12, 2, 0)
    assert summary["differs"] is True
    assert "organic" in summary["caveat"]


def test_as_many_offers_but_not_the_same_ones_is_a_difference() -> None:
    new, old = books()
    acme = HISTORY[:1] + HISTORY[2:4]  # 7 seats (NEW's offer), then 9 (OLD's)
    summary = Backtest.of(acme, new, old).summary()
    assert summary["total"][OLD] == summary["total"][NEW] == side(offers=1, only_here=1)
    assert summary["differs"] is True


def test_partitions_place_accounts_as_live_and_change_no_figure_here() -> None:
    new, old = books()
    assert Backtest.of(HISTORY, new, old, partitions=4).summary() == Backtest.of(
        HISTORY, new, old).summary()


def test_the_table_shows_both_versions_the_guards_and_the_caveat() -> None:
    new, old = books()
    table = Backtest.of(HISTORY, new, old).render()
    lines = table.splitlines()
    row = next(line for line in lines if line.startswith("seats-80 "))
    assert row.split() == ["seats-80", "2", "1", "0", "0", "2", "1", "1", "1", "78", "78"]
    assert next(line for line in lines if line.startswith("calls-80")).startswith(
        "calls-80 (removed)")
    held = next(line for line in lines if "account_cap" in line)
    assert held.split() == ["seats-80", "account_cap", "0", "1"]
    assert ("credited to offers only NEW makes (from organic plan changes alone): 1 conversion, "
            "78 MRR") in table
    assert "responses in the history to offers a version does not make: OLD 0, NEW 2" in table
    assert "no difference" not in table
    assert "organic" in table.split("\n\n")[-1]  # the caveat closes the output


def test_the_command_prints_the_backtest_as_json_and_as_a_table(tmp_path: Path) -> None:
    new_path, old_path, events = tmp_path / "new.yaml", tmp_path / "old.yaml", tmp_path / "e.jsonl"
    new_path.write_text(NEW_RULES)
    old_path.write_text(OLD_RULES)
    events.write_bytes(b"\n".join([*HISTORY, b"{not json"]) + b"\n")
    args = ["replay", "--rules", str(new_path), "--compare", str(old_path), str(events)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    new, old = books()
    expected = Backtest.of(HISTORY, new, old).summary()
    printed = orjson.loads(result.stdout)
    assert printed["bad_lines"] == 1 and "line 13:" in result.stderr
    assert printed == {**expected, "bad_lines": 1}
    table = CliRunner().invoke(main, args)
    assert table.exit_code == 0 and table.stdout.startswith("backtest: NEW rules test+")
    refused = CliRunner().invoke(main, [*args, "--report"])
    assert refused.exit_code == 2 and "--compare" in refused.output


def test_a_version_compared_with_itself_differs_in_nothing() -> None:
    lines = EXAMPLE_EVENTS.read_bytes().splitlines()
    backtest = Backtest.of(lines, example_book(), example_book(), partitions=4)
    summary = backtest.summary()
    assert summary["differs"] is False
    assert summary["total"][OLD] == summary["total"][NEW]
    assert summary["total"][OLD]["offers"] > 0 and summary["total"][OLD]["held_back"]
    assert all(t[OLD] == t[NEW] and t[OLD]["only_here"] == 0 for t in summary["triggers"])
    assert summary["unknown_offer_responses"] == {OLD: 0, NEW: 0}
    assert "no difference: both versions decide, hold back and are credited alike" in (
        backtest.render())
