"""The rules record on the rules topic: a contract kept by a golden record; every
way a record can be unusable is refused with a reason, never misread."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from schemas.rules_file import parse_rules
from schemas.rules_record import BadRulesRecord, decode_rules_record, encode_rules_record
from tests.factories import EXAMPLE_RULES

GOLDEN = Path(__file__).parent / "golden" / "rules-record-v1.json"
APPLIED_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_the_golden_v1_record_reads_back_with_its_version() -> None:
    applied = decode_rules_record(GOLDEN.read_bytes())
    assert applied.loaded.version == "golden-1+a6c936db"
    assert applied.applied_at == "2026-11-02T09:00:00Z"
    assert [t.id for t in applied.loaded.rules.triggers] == ["seats-80"]
    assert applied.loaded.text.startswith("# A rules file as applied")  # comments kept


def test_the_writer_still_writes_the_golden_record() -> None:
    source = orjson.loads(GOLDEN.read_bytes())["source"]
    key, value = encode_rules_record(parse_rules(source), APPLIED_AT)
    assert key == b"golden-1+a6c936db"
    assert value + b"\n" == GOLDEN.read_bytes()


def test_a_record_carries_the_same_version_as_the_file() -> None:
    loaded = parse_rules(EXAMPLE_RULES.read_text(), str(EXAMPLE_RULES))
    _, value = encode_rules_record(loaded, APPLIED_AT)
    assert decode_rules_record(value).loaded.version == loaded.version


def _golden(**changes: object) -> bytes:
    record = orjson.loads(GOLDEN.read_bytes())
    record.update(changes)
    return orjson.dumps({k: v for k, v in record.items() if v is not None})


@pytest.mark.parametrize(("value", "reason"), [
    (None, "empty record (a tombstone)"),
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (_golden(v=None), "no format number 'v'"),
    (_golden(v=2), "record format 2 is newer than this engine reads (1)"),
    (_golden(source=None), "'source' is missing or not text"),
    (_golden(sha256="0" * 64), "sha256 does not match the source"),
    (_golden(version="golden-2+00000000"), "names version 'golden-2+00000000'"),
])
def test_an_unusable_record_is_refused_with_its_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(BadRulesRecord) as caught:
        decode_rules_record(value, "rules topic offset 7")
    assert str(caught.value).startswith("rules topic offset 7: ")
    assert reason in str(caught.value)


def test_a_record_whose_rules_fail_validation_is_refused_with_every_error() -> None:
    source = orjson.loads(GOLDEN.read_bytes())["source"]
    broken = source.replace("levels: [80]", "levels: [80], priorty: 1").replace(
        "metric: seats", "metric: seatz")
    value = _golden(source=broken, sha256=hashlib.sha256(broken.encode()).hexdigest())
    with pytest.raises(BadRulesRecord) as caught:
        decode_rules_record(value, "rules topic offset 7")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith("rules topic offset 7:") for line in lines)
    assert any("unknown metric 'seatz'" in line for line in lines)
    assert any("priorty: unknown field" in line for line in lines)
