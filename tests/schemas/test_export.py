"""The committed JSON Schema files must match the models."""

import json
from pathlib import Path

from schemas.export import json_schemas, render

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "json"


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
        "ticket", "churn_signal", "offer_response",
    }
