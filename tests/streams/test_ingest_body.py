"""Splitting an ingest body into events, and checking them as the engine does."""

from __future__ import annotations

import orjson
import pytest

from schemas.events import InvalidEvent, decode_event
from streams.cli.replay import ReplaySummary, replay
from streams.worker.ingest_body import (
    MAX_ERRORS_LISTED,
    MAX_EVENT_BYTES,
    BodyError,
    check_events,
    is_json,
    is_ndjson,
    json_items,
    ndjson_items,
)
from tests.factories import example_book
from tests.streams.kafka_helpers import EXAMPLE_EVENTS

GOOD = (b'{"event_id": "e1", "account_id": "acme", "type": "nps", "score": 9, '
        b'"occurred_at": "2026-03-02T09:00:00Z"}')
OTHER = GOOD.replace(b'"e1"', b'"e2"').replace(b'"acme"', b'"globex"')
BAD = b'{"event_id": "e3", "account_id": "acme", "type": "nps", "score": "nine", ' \
      b'"occurred_at": "2026-03-02T09:00:00Z"}'


def reason_of(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    return caught.value.reason


def test_ndjson_lines_keep_their_numbers_and_skip_blank_lines() -> None:
    body = GOOD + b"\r\n\n" + BAD + b"\n   \n" + OTHER + b"\n"
    assert list(ndjson_items(body)) == [(1, GOOD), (3, BAD), (5, OTHER)]


def test_bad_lines_are_refused_with_the_engines_reason_and_good_ones_kept() -> None:
    checked = check_events(ndjson_items(GOOD + b"\n" + BAD + b"\n{oops\n" + OTHER))
    assert checked.accepted == [("acme", GOOD), ("globex", OTHER)]
    assert [(r.line, r.reason) for r in checked.rejected] == [
        (2, reason_of(BAD)), (3, reason_of(b"{oops")),
    ]
    assert checked.summary() == {
        "accepted": 2, "rejected": 2,
        "errors": [{"line": 2, "reason": reason_of(BAD)}, {"line": 3, "reason": reason_of(b"{oops")}],
    }


def test_the_example_file_is_judged_line_by_line_like_the_replay() -> None:
    summary = ReplaySummary()
    list(replay(EXAMPLE_EVENTS.read_bytes().splitlines(), example_book(), summary))
    checked = check_events(ndjson_items(EXAMPLE_EVENTS.read_bytes()))
    assert [(r.line, r.reason) for r in checked.rejected] == summary.bad_lines
    assert len(checked.accepted) == summary.events


def test_a_json_object_is_one_event() -> None:
    assert json_items(b"  " + GOOD + b"\n") == [(1, GOOD)]


def test_a_json_array_keeps_each_elements_own_bytes() -> None:
    body = b"[\n  " + GOOD + b",\n  " + BAD + b" ,\n" + OTHER + b"\n]\n"
    assert json_items(body) == [(1, GOOD), (2, BAD), (3, OTHER)]
    assert json_items(b" [ ] ") == []


def test_an_array_element_with_a_repeated_key_is_refused_as_the_engine_would() -> None:
    repeated = GOOD[:-1] + b', "score": 3}'
    checked = check_events(json_items(b"[" + GOOD + b"," + repeated + b"]"))
    assert [(r.line, r.reason) for r in checked.rejected] == [(2, reason_of(repeated))]
    assert "duplicate key 'score'" in checked.rejected[0].reason


def test_array_elements_that_are_not_objects_are_refused_one_by_one() -> None:
    checked = check_events(json_items(b'[1, "x", null, NaN, 1e999999, ' + GOOD + b"]"))
    assert [r.line for r in checked.rejected] == [1, 2, 3, 4, 5]
    assert len(checked.accepted) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'"just a string"', "must be one event object or an array"),
        (b"[" + GOOD + b" " + OTHER + b"]", "after item 1: expected ',' or ']'"),
        (b"[" + GOOD + b",", "invalid JSON array at item 2"),
        (b"[" + GOOD + b"] trailing", "unexpected text after the JSON array"),
        (b"[\xff]", "not UTF-8"),
        (b"[" * 100_000, "nests too deep"),
    ],
)
def test_a_body_that_is_no_json_event_or_array_is_refused_whole(body: bytes, expected: str) -> None:
    with pytest.raises(BodyError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        json_items(body)


def test_a_refused_body_never_repeats_the_input() -> None:
    with pytest.raises(BodyError) as caught:
        json_items(b'["secret" "secret"]')
    assert "secret" not in str(caught.value)


def test_an_oversized_event_is_refused_by_size() -> None:
    huge = GOOD[:-1] + b', "padding": "' + b"x" * MAX_EVENT_BYTES + b'"}'
    checked = check_events([(1, huge), (2, GOOD)])
    assert [(r.line, r.reason) for r in checked.rejected] == [
        (1, f"(event): larger than {MAX_EVENT_BYTES} bytes")]


def test_the_reply_lists_a_bounded_number_of_errors_but_counts_them_all() -> None:
    checked = check_events((n, b"{}") for n in range(1, 1001))
    summary = checked.summary()
    assert summary["rejected"] == 1000
    assert len(summary["errors"]) == MAX_ERRORS_LISTED  # type: ignore[arg-type]
    assert orjson.dumps(summary).count(b"line") == MAX_ERRORS_LISTED


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/ndjson",
                                          "application/jsonl", "application/x-jsonlines"])
def test_ndjson_content_types(content_type: str) -> None:
    assert is_ndjson(content_type) and not is_json(content_type)


@pytest.mark.parametrize(("content_type", "json"), [
    ("application/json", True), ("application/cloudevents-batch+json", True),
    ("text/plain", False), ("application/x-www-form-urlencoded", False), ("", False),
])
def test_json_content_types(content_type: str, json: bool) -> None:
    assert is_json(content_type) is json

