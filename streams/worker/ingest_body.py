"""The body of `POST /v1/events`, split into events and checked with the engine's
own decoder, so what the endpoint accepts is exactly what the engine accepts.

Each event keeps the bytes it was sent with: those bytes are what goes to
Kafka, so nothing is re-encoded between the check and the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from schemas.events import InvalidEvent, decode_event

#: Content types that mean one JSON event per line.
NDJSON_TYPES = frozenset({
    "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines",
})
#: An event larger than this is refused: events are a few hundred bytes, and a
#: record near the producer's 1 MiB request limit would fail the whole request.
MAX_EVENT_BYTES = 100_000
#: At most this many per-line errors in a reply; `rejected` still counts them all.
MAX_ERRORS_LISTED = 100
_WHITESPACE = " \t\r\n"
# Numbers and constants stay text: only each element's extent matters here (the
# engine's decoder judges the content), and int() refuses a 5,000-digit number.
_SCANNER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


class BodyError(ValueError):
    """A body that cannot be split into events at all (the whole request is refused)."""


@dataclass(frozen=True)
class Rejection:
    """One event refused: its line (NDJSON) or its position from 1 (a JSON array)."""

    line: int
    reason: str


@dataclass
class CheckedEvents:
    """The events of one request: those to send (account id, original bytes), those refused."""

    accepted: list[tuple[str, bytes]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The reply's body: counts, and the first errors (reasons name fields, never values)."""
        return {
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "errors": [{"line": r.line, "reason": r.reason}
                       for r in self.rejected[:MAX_ERRORS_LISTED]],
        }


def is_ndjson(content_type: str) -> bool:
    return content_type in NDJSON_TYPES


def is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def ndjson_items(body: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line) for each line that is not blank."""
    for number, line in enumerate(body.split(b"\n"), start=1):
        line = line.strip()
        if line:
            yield number, line


def json_items(body: bytes) -> list[tuple[int, bytes]]:
    """One event object, or an array of them: (position from 1, the element's bytes)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    start = _skip_space(text, 0)
    if text.startswith("{", start):
        return [(1, body.strip())]
    if not text.startswith("[", start):
        raise BodyError("a JSON body must be one event object or an array of them")
    items: list[tuple[int, bytes]] = []
    at = _skip_space(text, start + 1)
    if text.startswith("]", at):
        return _only_space_after(text, at + 1, items)
    while True:
        try:
            _, end = _SCANNER.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise BodyError(f"invalid JSON array at item {len(items) + 1}: {exc.msg} "
                            f"(line {exc.lineno}, column {exc.colno})") from None
        except RecursionError:
            raise BodyError(f"item {len(items) + 1} of the JSON array nests too deep") from None
        items.append((len(items) + 1, text[at:end].encode()))
        at = _skip_space(text, end)
        if text.startswith("]", at):
            return _only_space_after(text, at + 1, items)
        if not text.startswith(",", at):
            raise BodyError(f"invalid JSON array after item {len(items)}: expected ',' or ']'")
        at = _skip_space(text, at + 1)


def check_events(items: Iterable[tuple[int, bytes]]) -> CheckedEvents:
    """Decode each item as the engine does; keep the valid ones with their account."""
    checked = CheckedEvents()
    for line, raw in items:
        if len(raw) > MAX_EVENT_BYTES:
            checked.rejected.append(Rejection(line, f"(event): larger than {MAX_EVENT_BYTES} bytes"))
            continue
        try:
            event = decode_event(raw)
        except InvalidEvent as exc:
            checked.rejected.append(Rejection(line, exc.reason))
            continue
        checked.accepted.append((event.account_id, raw))
    return checked


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _only_space_after(text: str, at: int, items: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    if _skip_space(text, at) != len(text):
        raise BodyError("unexpected text after the JSON array")
    return items
