"""The offline commands: replay, rules check, schema, simulate."""

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from schemas.export import json_schemas, render
from streams.cli import main
from tests.factories import EXAMPLE_RULES, ROOT

EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"


def test_replay_of_the_shipped_sample_prints_offers_and_a_summary() -> None:
    # Through the installed entry point, as a user runs it.
    done = subprocess.run(
        [Path(sys.executable).parent / "upsell", "replay", "--rules", str(EXAMPLE_RULES),
         str(EXAMPLE_EVENTS)],
        capture_output=True, check=True, cwd=ROOT,
    )
    offers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(offers) >= 10
    assert {o["kind"] for o in offers} >= {"upsell", "cross_sell"}
    assert len({o["offer_id"] for o in offers}) == len(offers)
    usage = [o for o in offers if o["reason"]["metric"]]
    assert usage and all(" of " in o["reason"]["text"] and "%" in o["reason"]["text"]
                         for o in usage)
    summary = done.stderr.decode()
    assert "events read:" in summary
    assert "bad lines: 3" in summary
    assert "usage.value: Input should be a valid number" in summary
    assert "1 duplicates dropped" in summary


def test_replay_reports_bad_lines_with_numbers_and_keeps_going(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    good = EXAMPLE_EVENTS.read_text().splitlines()[:40]
    events.write_text("\n".join([good[0], "not json", *good[1:], '{"type": "usage"}']) + "\n")
    result = CliRunner().invoke(main, ["replay", "--rules", str(EXAMPLE_RULES), str(events)])
    assert result.exit_code == 0
    assert "line 2: (event): Invalid JSON" in result.stderr
    assert "line 42: usage.event_id: Field required" in result.stderr
    assert "events read: 40" in result.stderr


def test_replay_with_bad_rules_exits_1_and_names_the_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(EXAMPLE_RULES.read_text().replace("levels: [80]", "levels: 80", 1))
    result = CliRunner().invoke(main, ["replay", "--rules", str(rules), str(EXAMPLE_EVENTS)])
    assert result.exit_code == 1
    assert f"{rules}:" in result.stderr and "triggers.0.levels" in result.stderr


def test_rules_check_accepts_the_example() -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(EXAMPLE_RULES)])
    assert result.exit_code == 0, result.output
    assert "OK (version 2026-11-saas+" in result.stdout
    assert "triggers: 12" in result.stdout


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
    assert len(first.stdout.splitlines()) > 20
