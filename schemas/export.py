"""JSON Schema files for producers and consumers written in other languages.

The files in `schemas/json/` are generated from the models by
`upsell schema --out schemas/json` and committed; a test fails when they drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.events import EVENT_ADAPTER
from schemas.offers import Offer
from schemas.outcomes import Outcome
from schemas.rules import RulesFile

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document."""
    documents: dict[str, tuple[str, TypeAdapter[Any]]] = {
        "usage-event.schema.json": ("Usage event (contract v1)", EVENT_ADAPTER),
        "offer.schema.json": ("Offer (contract v1)", TypeAdapter(Offer)),
        "outcome.schema.json": ("Offer outcome (contract v1)", TypeAdapter(Outcome)),
        "rules.schema.json": ("upsell rules file", TypeAdapter(RulesFile)),
    }
    result = {}
    for name, (title, adapter) in documents.items():
        schema = adapter.json_schema(mode="validation")
        result[name] = {"$schema": DRAFT, "title": title, **schema}
    return result


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_json_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = out_dir / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
