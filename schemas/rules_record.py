"""The rules record: one version of the rules, as `upsell rules apply` publishes it
on the compacted rules topic and every worker reads it (a contract: it
outlives the process that wrote it).

    key   the version, UTF-8 ("2026-11-saas+607578fb"): compaction keeps one
          record per version, the latest good one by offset is in force
    value {"v": 1, "version": "2026-11-saas+607578fb", "source": "<the YAML text>",
           "applied_at": "2026-11-02T09:00:00Z", "sha256": "<hex of the source, UTF-8>"}

`source` is the rules file's text as it was applied, comments included, so a
worker decides with exactly what `upsell rules check` validated, and its
version (declared version + hash of the text) is the one offers carry.
Unknown fields are ignored (add fields freely); a newer `v` is refused, never
misread. Reading a record validates everything again: another tool may have
written it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from schemas.rules_file import LoadedRules, RulesError, parse_rules

RULES_RECORD_FORMAT = 1


class BadRulesRecord(ValueError):
    """A record on the rules topic that is not a usable rules version; the reason
    names what is wrong (never the whole text)."""


@dataclass(frozen=True)
class AppliedRules:
    """A good rules record: the validated rules, and when they were applied."""

    loaded: LoadedRules
    applied_at: str | None  # as written (RFC 3339); informational


def encode_rules_record(loaded: LoadedRules, applied_at: datetime) -> tuple[bytes, bytes]:
    """(key, value) of the record for validated rules (their text as it was read)."""
    text = loaded.text
    value = {
        "v": RULES_RECORD_FORMAT,
        "version": loaded.version,
        "source": text,
        "applied_at": applied_at.astimezone(UTC).isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "sha256": loaded.digest,
    }
    return loaded.version.encode(), orjson.dumps(value)


def decode_rules_record(value: bytes | None, where: str = "rules topic") -> AppliedRules:
    """The rules of one record, validated as a rules file is; `where` names the
    record in errors ("rules topic offset 7")."""
    if value is None:
        raise BadRulesRecord(f"{where}: empty record (a tombstone), not a rules version")
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadRulesRecord(f"{where}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise BadRulesRecord(f"{where}: not a JSON object")
    version = record.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadRulesRecord(f"{where}: no format number 'v'")
    if version > RULES_RECORD_FORMAT:
        raise BadRulesRecord(f"{where}: record format {version} is newer than this engine "
                             f"reads ({RULES_RECORD_FORMAT}): upgrade the workers first")
    source, digest, named = record.get("source"), record.get("sha256"), record.get("version")
    for field, found in (("source", source), ("sha256", digest), ("version", named)):
        if not isinstance(found, str):
            raise BadRulesRecord(f"{where}: '{field}' is missing or not text")
    assert isinstance(source, str)
    if hashlib.sha256(source.encode()).hexdigest() != digest:
        raise BadRulesRecord(f"{where}: sha256 does not match the source (a damaged record)")
    try:
        loaded = parse_rules(source, source=where)
    except RulesError as exc:
        raise BadRulesRecord(str(exc)) from None
    if loaded.version != named:
        raise BadRulesRecord(f"{where}: names version {named!r}, its source is {loaded.version!r}")
    applied_at = record.get("applied_at")
    return AppliedRules(loaded, applied_at if isinstance(applied_at, str) else None)
