"""What `upsell rules apply` says a new version does to the triggers' state, and how
`upsell rules show` reads the workers' reports (the status record is a contract)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from schemas.rules_file import parse_rules
from streams.cli.rules_cmd import render_overview, trigger_changes
from streams.runtime.rules_status import WorkerReport
from tests.factories import EXAMPLE_RULES

GOLDEN_STATUS = Path(__file__).parent / "golden" / "rules-status-v1.json"
V1 = EXAMPLE_RULES.read_text()


def test_apply_names_the_triggers_added_removed_and_changed() -> None:
    new = (V1.replace("  - id: seats-100\n", "  - id: seats-full\n")
           .replace("    levels: [80]\n    offer: {kind: upsell, recommend: next_tier}\n"
                    "    priority: 50", "    levels: [70, 80]\n    offer: {kind: upsell, "
                    "recommend: next_tier}\n    priority: 50"))
    lines = trigger_changes(parse_rules(V1).rules, parse_rules(new).rules)
    assert lines[0].startswith("triggers added: seats-full ")
    assert lines[1].startswith("triggers removed: seats-100 ")
    assert lines[2].startswith("triggers changed: seats-80 (same id: each account keeps")
    assert lines[3].startswith("  seats-80: levels [80] -> [70, 80]: a fired level is kept")
    assert trigger_changes(parse_rules(V1).rules, parse_rules(V1).rules) == []


def test_the_golden_worker_report_reads_back() -> None:
    report = WorkerReport.decode(b"host-1:4711", GOLDEN_STATUS.read_bytes())
    assert report == WorkerReport("host-1:4711", "upsell-engine", "2026-11-saas+607578fb",
                                  "rules topic offset 3", "2026-11-02T09:00:00Z",
                                  "2026-11-02T09:05:00Z")
    assert report.encode() + b"\n" == GOLDEN_STATUS.read_bytes()


def test_an_unreadable_or_newer_report_is_shown_as_such() -> None:
    assert WorkerReport.decode(b"w", b"garbage").problem == "not JSON"
    assert WorkerReport.decode(b"w", b'{"v": 2}').problem == \
        "format 2 is newer than this command reads"


def test_show_marks_a_worker_that_differs_or_has_gone_quiet() -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    overview = {
        "topic": "upsell-rules",
        "version": {"version": "b+2", "offset": 4, "applied_at": now},
        "refused_records": ["rules topic offset 5: not JSON"],
        "workers": [
            {"worker": "w1", "group": "g", "rules_version": "b+2", "source": "rules topic offset 4",
             "since": now, "seen_seconds_ago": 3, "stale": False, "problem": None},
            {"worker": "w2", "group": "g", "rules_version": "a+1", "source": "file r.yaml",
             "since": now, "seen_seconds_ago": 900, "stale": True, "problem": None},
        ],
    }
    lines = render_overview(overview).splitlines()
    assert lines[0] == f"rules topic upsell-rules: b+2 (offset 4, applied {now})"
    assert lines[1] == "  1 record refused; the last: rules topic offset 5: not JSON"
    assert lines[3].endswith(f"since {now}")
    assert lines[4].endswith("[differs from the topic; stale: not seen for 900 s, stopped "
                             "without a clean exit?]")
