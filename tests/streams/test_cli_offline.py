"""The offline commands: replay, rules check, schema, simulate."""

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from click.testing import CliRunner

from schemas.export import json_schemas, render
from schemas.offers import Offer
from schemas.rules_file import load_rules
from streams.cli import main
from streams.cli.replay import ReplaySummary, replay
from streams.cli.simulator import Simulator
from tests.factories import EXAMPLE_RULES, ROOT, example_book

EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"


def replayed(lines: Iterable[bytes]) -> tuple[list[Offer], ReplaySummary]:
    """What the replay function makes of these lines: the figures the CLI must print."""
    summary = ReplaySummary()
    offers = list(replay(lines, example_book(), summary))
    return offers, summary


def test_replay_of_the_shipped_sample_prints_offers_and_a_summary() -> None:
    # Through the installed entry point, as a user runs it.
    done = subprocess.run(
        [Path(sys.executable).parent / "upsell", "replay", "--rules", str(EXAMPLE_RULES),
         str(EXAMPLE_EVENTS)],
        capture_output=True, check=True, cwd=ROOT,
    )
    with EXAMPLE_EVENTS.open("rb") as lines:
        expected, summary = replayed(lines)
    assert done.stdout.decode().splitlines() == [offer.model_dump_json() for offer in expected]
    assert done.stderr.decode() == summary.render() + "\n"
    # What the sample is for: offers of several kinds, with reasons in numbers...
    offers = [json.loads(line) for line in done.stdout.splitlines()]
    assert {o["kind"] for o in offers} >= {"upsell", "cross_sell"}
    assert len({o["offer_id"] for o in offers}) == len(offers)
    usage = [o for o in offers if o["reason"]["level"]]  # usage thresholds and limits
    assert usage and all(" of " in o["reason"]["text"] and "%" in o["reason"]["text"]
                         for o in usage)
    # ... the moments of time and segment, timed offers with no event included, decided
    # for the accounts offered and for the control group alike ...
    decided = {trigger for trigger, status in summary.decisions.outcomes
               if status in ("made", "held_out")}
    assert decided >= {
        "renewal-60", "tenure-3-6-months", "seats-growth", "seats-forecast",
        "payroll-accounting", "seats-collapse", "quiet-21-days"}
    assert any(status == "held_out" for _, status in summary.decisions.outcomes)
    assert "down_sell" in {o["kind"] for o in offers}
    assert any(o["caused_by"].startswith("due:") for o in offers)
    # ... and the mistakes real producers make, reported without stopping the replay.
    assert summary.bad_lines and summary.decisions.duplicates
    assert f"bad lines: {len(summary.bad_lines)}" in done.stderr.decode()
    assert "usage.value: Input should be a valid number" in done.stderr.decode()


def test_replay_reports_bad_lines_with_numbers_and_keeps_going(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    good = EXAMPLE_EVENTS.read_text().splitlines()[:40]
    events.write_text("\n".join([good[0], "not json", *good[1:], '{"type": "usage"}']) + "\n")
    result = CliRunner().invoke(main, ["replay", "--rules", str(EXAMPLE_RULES), str(events)])
    assert result.exit_code == 0
    # Line numbers count every line of the file, bad ones included.
    assert "line 2: (event): Invalid JSON" in result.stderr
    assert f"line {len(good) + 2}: usage.event_id: Field required" in result.stderr
    _, without_them = replayed(line.encode() for line in good)
    assert f"events read: {without_them.events} " in result.stderr


def test_replay_with_bad_rules_exits_1_and_names_the_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(EXAMPLE_RULES.read_text().replace("levels: [80]", "levels: 80", 1))
    result = CliRunner().invoke(main, ["replay", "--rules", str(rules), str(EXAMPLE_EVENTS)])
    assert result.exit_code == 1
    assert f"{rules}:" in result.stderr and "triggers.0.levels" in result.stderr


def test_rules_check_accepts_the_example() -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(EXAMPLE_RULES)])
    assert result.exit_code == 0, result.output
    assert "OK (version 2026-12-saas-2+" in result.stdout
    assert f"triggers: {len(load_rules(EXAMPLE_RULES).rules.triggers)} (" in result.stdout


def test_rules_check_lists_every_error_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(EXAMPLE_RULES.read_text().replace("priority: 90", "priorty: 90").replace(
        "at_least: 9", "at_least: high"))
    result = CliRunner().invoke(main, ["rules", "check", str(rules)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{rules}:") for line in lines)


def test_schema_command_writes_the_committed_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0
    for name, schema in json_schemas().items():
        assert (tmp_path / name).read_text() == render(schema)


def test_simulate_is_deterministic_for_a_seed() -> None:
    args = ["simulate", "--rules", str(EXAMPLE_RULES), "--accounts", "3", "--days", "20"]
    first = CliRunner().invoke(main, args)
    again = CliRunner().invoke(main, args)
    assert first.exit_code == 0
    assert first.stdout == again.stdout
    events = list(Simulator(example_book(), 3).events(20))
    assert [json.loads(line) for line in first.stdout.splitlines()] == events
