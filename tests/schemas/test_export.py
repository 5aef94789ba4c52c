"""The committed JSON Schema files must match the models."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from schemas.events import IDENTIFIER_PATTERN, TIMESTAMP_PATTERN, InvalidEvent, decode_event
from schemas.export import json_schemas, render
from tests.contract_examples import EXAMPLES

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "json"
EVENT_MODELS = ("SubscriptionEvent", "UsageEvent", "FeatureGateEvent", "MilestoneEvent", "ScoreEvent",
                "TicketEvent", "ChurnSignalEvent", "OfferResponseEvent", "AccountEvent")


def test_committed_json_schemas_match_the_models() -> None:
    for name, schema in json_schemas().items():
        committed = (COMMITTED / name).read_text(encoding="utf-8")
        assert committed == render(schema), (
            f"schemas/json/{name} is out of date: run `upsell schema --out schemas/json`"
        )


def test_event_schema_lists_every_event_type() -> None:
    schema = json.loads((COMMITTED / "usage-event.schema.json").read_text())
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == {
        "subscription", "usage", "feature_gate", "milestone", "nps", "csat", "health_score",
        "ticket", "churn_signal", "offer_response", "account",
    }


# -- the schema carries the string rules, in a form other languages can run ------

def event_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((COMMITTED / "usage-event.schema.json").read_text())
    return loaded


IDENTIFIER_FIELDS = {"event_id", "account_id", "plan", "metric", "feature", "name", "ticket_id",
                     "offer_id", "industry"}
TIME_FIELDS = {"occurred_at", "started_at", "renews_at"}


def test_every_id_and_time_field_refers_to_its_rule() -> None:
    definitions = event_schema()["$defs"]
    assert definitions["Identifier"]["pattern"] == IDENTIFIER_PATTERN
    assert definitions["Identifier"]["maxLength"] == 200
    assert definitions["EventTime"] == {
        "description": "RFC 3339 date-time with a time zone, years 1970 to 2999.",
        "format": "date-time", "pattern": TIMESTAMP_PATTERN, "type": "string",
    }
    seen = set()
    for name in EVENT_MODELS:
        for field, spec in definitions[name]["properties"].items():
            refs = json.dumps(spec)
            if field in IDENTIFIER_FIELDS or field == "addons":
                assert '"#/$defs/Identifier"' in refs, (name, field)
                seen.add(field)
            if field in TIME_FIELDS:
                assert '"#/$defs/EventTime"' in refs, (name, field)
                seen.add(field)
    assert seen == IDENTIFIER_FIELDS | TIME_FIELDS | {"addons"}


def schema_accepts(pattern: str, value: str) -> bool:
    # JSON Schema's "pattern" is a search, as Python's re.search.
    return re.search(pattern, value) is not None


def model_accepts(raw_field: str, value: str) -> bool:
    body = {"event_id": "e", "account_id": "a", "occurred_at": "2026-03-02T09:00:00Z",
            "type": "milestone", "name": "x", raw_field: value}
    try:
        decode_event(json.dumps(body))
    except InvalidEvent:
        return False
    return True


ID_SAMPLES = ["acme", "Müller GmbH", "team 🚀", "a", " a", "a ", "", " ", "a\u0000b", "\u001b[0m",
              "a\u200bb", "\ufeff", "a\u2028b", "a\u00a0", "\u3000a", "a\u0085b"]
TIME_SAMPLES = ["2026-03-02T09:00:00Z", "2026-03-02t09:00:00z", "2026-03-02T09:00:00.5+01:00",
                "2026-03-02T09:00:00.123456789-04:30", "1772442000", "2026-03-02",
                "2026-03-02 09:00:00Z", "2026-03-02T09:00Z", "2026-03-02T09:00:00+0100",
                "2026-03-02T09:00:00", "2026-03-02T09:00:00.1234567890Z"]
# The contract table's times (real dates, the year bounds); in Python's re a `$` also
# matches before a final line break, so those ending in one are for ECMA-262 only.
TABLE_TIMES = sorted({example.event["occurred_at"] for example in EXAMPLES
                      if isinstance(example.event, dict)
                      and isinstance(example.event.get("occurred_at"), str)} - set(TIME_SAMPLES))


def test_the_schemas_patterns_decide_as_the_models_do_in_pythons_re() -> None:
    definitions = event_schema()["$defs"]
    for value in ID_SAMPLES:
        assert schema_accepts(definitions["Identifier"]["pattern"], value) == model_accepts(
            "account_id", value), repr(value)
    for char in map(chr, range(0x10000)):
        if not 0xD800 <= ord(char) <= 0xDFFF:
            value = f"a{char}b"
            assert schema_accepts(IDENTIFIER_PATTERN, value) == model_accepts("name", value), (
                f"U+{ord(char):04X}")
    for value in TIME_SAMPLES + [time for time in TABLE_TIMES if not time.endswith("\n")]:
        assert schema_accepts(definitions["EventTime"]["pattern"], value) == model_accepts(
            "occurred_at", value), value


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node for ECMA-262 regular expressions")
def test_the_schemas_patterns_decide_as_the_models_do_in_ecma_262() -> None:
    definitions = event_schema()["$defs"]
    cases = [(definitions["Identifier"]["pattern"], value) for value in ID_SAMPLES]
    cases += [(definitions["EventTime"]["pattern"], value) for value in TIME_SAMPLES + TABLE_TIMES]
    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(cases.map(([p, v]) => "
        "[new RegExp(p).test(v), new RegExp(p, 'u').test(v)])));"
    )
    done = subprocess.run(["node", "-e", script], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=30, check=True)
    for (pattern, value), (plain, unicode) in zip(cases, json.loads(done.stdout), strict=True):
        field = "account_id" if pattern == IDENTIFIER_PATTERN else "occurred_at"
        assert plain == unicode == model_accepts(field, value), repr(value)
