"""The engine, the published JSON Schema and the product apps' client decide
every example of the contract alike, so a producer in any language learns the
contract from its own validator, not from the engine's dead-letter topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from schemas.events import InvalidEvent, decode_event
from tests.contract_examples import EXAMPLES, MINIMAL, Example, event
from upsell_client import InvalidEvent as ClientInvalidEvent
from upsell_client.validation import check_event

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "json" / "usage-event.schema.json"


def ecma_anchored(schema: Any) -> Any:
    """The schema with each pattern's closing `$` as ECMA-262 reads it (the end of
    the text). Python's re, which jsonschema uses, also lets `$` match before a
    final line break, so "acme\\n" would pass; Java's regex does the same."""
    def anchored(pattern: str) -> str:
        return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern

    if isinstance(schema, list):
        return [ecma_anchored(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: ecma_anchored(value) for key, value in schema.items()}
    if isinstance(schema.get("pattern"), str):
        result["pattern"] = anchored(schema["pattern"])
    if isinstance(schema.get("patternProperties"), dict):
        result["patternProperties"] = {anchored(key): ecma_anchored(value)
                                       for key, value in schema["patternProperties"].items()}
    return result


SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = Draft202012Validator(ecma_anchored(SCHEMA))


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def engine_reason(value: Any) -> str | None:
    try:
        decode_event(as_json(value))
    except InvalidEvent as exc:
        return exc.reason
    return None


def client_reason(value: Any) -> str | None:
    try:
        check_event(json.loads(as_json(value)))
    except ClientInvalidEvent as exc:
        return exc.reason
    return None


def verdicts(value: Any) -> tuple[bool, bool, bool]:
    """(engine, JSON Schema, client): does each accept it?"""
    decoded = json.loads(as_json(value))
    return engine_reason(value) is None, VALIDATOR.is_valid(decoded), client_reason(value) is None


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_the_engine_the_json_schema_and_the_client_agree(example: Example) -> None:
    engine, schema, client = verdicts(example.event)
    assert (engine, schema, client) == (example.valid,) * 3, (
        f"engine {engine} ({engine_reason(example.event)}), JSON Schema {schema}, "
        f"client {client} ({client_reason(example.event)}); expected {example.valid}")


def test_the_client_names_the_same_fields_as_the_engine() -> None:
    """Each invalid example: the client's first problem is where the engine's is (or
    around it: the engine names a trait's name as `traits.<key>.<key>`)."""
    for example in EXAMPLES:
        if example.valid:
            continue
        engine, client = engine_reason(example.event), client_reason(example.event)
        assert engine is not None and client is not None
        engine_at, client_at = engine.split(":")[0], client.split(":")[0]
        assert engine_at == client_at or engine_at.startswith(client_at + "."), (
            example.name, engine, client)


def test_the_table_breaks_every_field_of_every_type() -> None:
    """A field with no invalid example is a rule nobody checks the three agree on."""
    named = {reason.split(":")[0] for example in EXAMPLES if not example.valid
             if (reason := engine_reason(example.event)) is not None}
    for kind in MINIMAL:
        fields = VALIDATOR.schema["$defs"][SCHEMA["discriminator"]["mapping"][kind].split("/")[-1]]
        for field in fields["properties"]:
            if field == "type" or (kind in ("csat", "health_score") and field == "score"):
                continue  # the type is broken in examples of its own; one scale stands for all
            if kind != "milestone" and field in ("event_id", "account_id", "occurred_at",
                                                 "schema_version"):
                continue  # the common fields are broken on milestones
            assert any(name == f"{kind}.{field}" or name.startswith(f"{kind}.{field}.")
                       for name in named), f"no invalid example for {kind}.{field}"


# -- beyond the table: its values mixed at random -------------------------------------

def _values_by_field() -> dict[str, list[Any]]:
    pools: dict[str, list[Any]] = {}
    for example in EXAMPLES:
        if isinstance(example.event, dict):
            for field, value in example.event.items():
                if value not in pools.setdefault(field, []):
                    pools[field].append(value)
    return pools


POOLS = _values_by_field()


@st.composite
def mixed_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(MINIMAL)))
    built = event(kind)
    for field in sorted(POOLS):
        if field != "type" and draw(st.integers(0, 3)) == 0:
            built[field] = draw(st.sampled_from(POOLS[field] + [...]))
    return {name: value for name, value in built.items() if value is not ...}


@settings(max_examples=400, deadline=None)
@given(mixed_events())
def test_mixed_events_are_decided_alike(value: dict[str, Any]) -> None:
    engine, schema, client = verdicts(value)
    assert engine == schema == client, (value, engine_reason(value), schema, client_reason(value))
