"""The event contract: every type decodes; bad events say which field and why."""

import calendar
import itertools
import json
import re
import unicodedata
from datetime import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import events
from schemas.events import (
    MAX_REASON_CHARS,
    Identifier,
    InvalidEvent,
    decode_event,
    describe_validation_error,
)

BASE = '"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00+01:00"'


@pytest.mark.parametrize(
    ("body", "type_name"),
    [
        ('"type": "subscription", "plan": "basic", "addons": ["x"]', "SubscriptionEvent"),
        ('"type": "usage", "metric": "seats", "value": 41', "UsageEvent"),
        ('"type": "usage", "metric": "api_calls", "delta": 120', "UsageEvent"),
        ('"type": "feature_gate", "feature": "sso"', "FeatureGateEvent"),
        ('"type": "milestone", "name": "project_completed"', "MilestoneEvent"),
        ('"type": "nps", "score": 9', "ScoreEvent"),
        ('"type": "csat", "score": 4.5', "ScoreEvent"),
        ('"type": "health_score", "score": 71', "ScoreEvent"),
        ('"type": "ticket", "ticket_id": "T1", "status": "opened", "severity": "high"',
         "TicketEvent"),
        ('"type": "churn_signal", "name": "downgrade_intent"', "ChurnSignalEvent"),
        ('"type": "offer_response", "offer_id": "o1", "response": "declined"',
         "OfferResponseEvent"),
        ('"type": "account", "industry": "payroll", "employees": 12', "AccountEvent"),
    ],
)
def test_every_event_type_decodes(body: str, type_name: str) -> None:
    event = decode_event("{" + BASE + ", " + body + "}")
    assert type(event).__name__ == type_name
    assert event.account_id == "acme"
    assert event.occurred_at.utcoffset() is not None


def test_unknown_fields_are_ignored_so_producers_can_add_fields() -> None:
    event = decode_event("{" + BASE + ', "type": "milestone", "name": "x", "extra": 1}')
    assert event.type == "milestone"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('"type": "usage", "metric": "seats", "value": "41"',
         "usage.value: Input should be a valid number"),
        ('"type": "usage", "metric": "seats"',
         "give exactly one of 'value' (a gauge) or 'delta' (a counter)"),
        ('"type": "usage", "metric": "seats", "value": 1, "delta": 1', "give exactly one"),
        ('"type": "usage", "metric": "seats", "value": -1',
         "usage.value: Input should be greater than or equal to 0"),
        ('"type": "ticket", "ticket_id": "T", "status": "closed"', "ticket.status: Input should be"),
        ('"type": "teleport"', "does not match any of the expected tags"),
        ('"type": "milestone"', "milestone.name: Field required"),
    ],
)
def test_invalid_event_names_the_field_and_the_problem(body: str, expected: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event("{" + BASE + ", " + body + "}")
    assert expected in caught.value.reason


def test_time_without_a_zone_is_refused() -> None:
    raw = '{"event_id": "e", "account_id": "a", "occurred_at": "2026-03-02T09:00:00", ' \
          '"type": "milestone", "name": "x"}'
    with pytest.raises(InvalidEvent, match=r"milestone\.occurred_at: should be an RFC 3339 "
                                           r"date-time with a time zone"):
        decode_event(raw)


def test_broken_json_is_reported_as_such() -> None:
    with pytest.raises(InvalidEvent, match="Invalid JSON"):
        decode_event(b'{"event_id": ')


def test_reason_does_not_echo_customer_values() -> None:
    raw = "{" + BASE + ', "type": "usage", "metric": "seats", "value": "secret-41"}'
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    assert "secret-41" not in caught.value.reason


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('"type": "usage", "metric": "seats", "value": Infinity', "Input should be a finite number"),
        ('"type": "usage", "metric": "seats", "value": 1e400', "Input should be a finite number"),
        ('"type": "usage", "metric": "calls", "delta": 1e13', "less than or equal to 1000000000000"),
        ('"type": "nps", "score": NaN', "nps.score: Input should be a finite number"),
    ],
)
def test_numbers_that_would_break_the_arithmetic_are_refused(body: str, expected: str) -> None:
    with pytest.raises(InvalidEvent, match=expected):
        decode_event("{" + BASE + ", " + body + "}")


@pytest.mark.parametrize("when", ["9999-12-31T00:00:00Z", "3000-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                                  "0000-01-01T00:00:00Z"])
def test_times_outside_years_1970_to_2999_are_refused(when: str) -> None:
    raw = ('{"event_id": "e", "account_id": "a", "type": "milestone", "name": "x", '
           f'"occurred_at": "{when}"}}')
    with pytest.raises(InvalidEvent, match=r"milestone\.occurred_at: should be an RFC 3339 date-time "
                                           r"with a time zone, a real date and time in the years 1970"):
        decode_event(raw)


# -- reasons carry no input -----------------------------------------------------

SECRET = "s3cr3t-customer-value"


def reason_of(raw: str | bytes) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    return caught.value.reason


def test_an_unknown_type_is_named_without_its_value() -> None:
    reason = reason_of("{" + BASE + f', "type": "teleport-{SECRET}"}}')
    assert SECRET not in reason
    assert reason.startswith("(event): 'type' does not match any of the expected tags: "
                             "'subscription', 'usage', ")


def test_a_huge_unknown_type_gives_a_short_reason() -> None:
    # A 900 KB `type` once made a 921,809-byte DLQ header.
    reason = reason_of("{" + BASE + ', "type": "' + "x" * 900_000 + '"}')
    assert len(reason) < 200
    assert "xxxx" not in reason


@pytest.mark.parametrize(
    "raw",
    [
        "{" + BASE + f', "type": "{SECRET}"}}',
        "{" + BASE + f', "type": "ticket", "ticket_id": "T", "status": "{SECRET}"}}',
        "{" + BASE + f', "type": "usage", "metric": "seats", "value": "{SECRET}"}}',
        "{" + BASE + f', "type": "usage", "metric": "seats", "delta": 1, "schema_version": "{SECRET}"}}',
        "{" + BASE + f', "type": "subscription", "plan": "p", "addons": ["a", 1, "{SECRET}\\u0000"]}}',
        "{" + BASE + f', "type": "subscription", "plan": "p", "addons": "{SECRET}"}}',
        "{" + BASE + f', "type": "subscription", "plan": "p", "started_at": "2026-{SECRET}"}}',
        "{" + BASE + f', "type": "milestone", "name": "{SECRET}\\u200b"}}',
        '{"event_id": "e", "account_id": "a", "type": "milestone", "name": "x", '
        f'"occurred_at": "{SECRET}"}}',
        '{"event_id": "e", "account_id": "a", "type": "milestone", "name": "x", '
        '"occurred_at": "2026-13-02T09:00:00Z"}',
        "{" + BASE + f', "type": "milestone", "name": "x", "{SECRET}": 1, "{SECRET}": 2}}',
        f'{{"event_id": "{SECRET}", ',
        f'{{"event_id": {SECRET}}}',
        f'["{SECRET}"]',
        f'"{SECRET}"',
        b"\xff" + SECRET.encode(),
    ],
)
def test_no_reason_repeats_what_the_event_held(raw: str | bytes) -> None:
    reason = reason_of(raw)
    assert SECRET not in reason and "s3cr3t" not in reason
    assert 0 < len(reason) <= MAX_REASON_CHARS


def test_many_problems_are_counted_not_listed() -> None:
    addons = ", ".join(["1"] * 5000)
    reason = reason_of("{" + BASE + f', "type": "subscription", "plan": "p", "addons": [{addons}]}}')
    assert len(reason) <= MAX_REASON_CHARS
    assert "subscription.addons: List should have at most 100 items" in reason


def test_a_reason_is_capped_in_length() -> None:
    bad = ", ".join(f'"{name}": 1' for name in
                    ("event_id", "account_id", "occurred_at", "ticket_id", "status", "severity"))
    reason = reason_of('{"type": "ticket", "schema_version": 2, ' + bad + "}")
    assert reason.count("; ") == 5 and reason.endswith("and 2 more")
    assert len(reason) <= MAX_REASON_CHARS


def test_a_location_the_contract_does_not_name_is_not_repeated() -> None:
    error = ValidationError.from_exception_data("Event", [
        {"type": "missing", "loc": ("usage", f"{SECRET}-key", 3), "input": None},
    ])
    assert describe_validation_error(error) == "usage.<key>.3: Field required"


def test_a_json_error_keeps_its_fixed_explanation() -> None:
    assert reason_of(b'{"event_id": ') == (
        "(event): Invalid JSON: EOF while parsing a value at line 1 column 13"
    )


# -- timestamps: RFC 3339 with a time zone, nothing else -------------------------

def milestone_at(when: str) -> str:
    return ('{"event_id": "e", "account_id": "a", "type": "milestone", "name": "x", '
            f'"occurred_at": {json.dumps(when)}}}')


@pytest.mark.parametrize(
    "when",
    [
        "1772442000",  # Unix time in a string: pydantic's datetime takes it
        "1772442000.5",
        "2026-03-02",  # a date alone
        "2026-03-02 09:00:00Z",  # space for T
        "2026-03-02T09:00Z",  # no seconds
        "2026-03-02T09:00:00+0100",  # offset without colon
        "2026-03-02T09:00:00",  # no zone
        "2026-03-02T09:00:00.1234567890Z",  # 10 fraction digits
        " 2026-03-02T09:00:00Z",
        "2026-03-02T09:00:00Z\n",
    ],
)
def test_times_that_are_not_rfc_3339_with_a_zone_are_refused(when: str) -> None:
    assert reason_of(milestone_at(when)) == TIME_PROBLEM


TIME_PROBLEM = ("milestone.occurred_at: should be an RFC 3339 date-time with a time zone, a real date "
                "and time in the years 1970 to 2999, e.g. 2026-03-02T09:00:00Z")


@pytest.mark.parametrize(
    "when",
    ["2026-02-30T09:00:00Z", "2026-13-01T09:00:00Z", "2026-00-10T09:00:00Z", "2026-03-00T09:00:00Z",
     "2026-04-31T09:00:00Z", "2100-02-29T09:00:00Z", "2026-03-02T24:00:00Z", "2026-03-02T09:60:00Z",
     "2026-03-02T23:59:60Z", "2026-03-02T09:00:00+24:00", "2026-03-02T09:00:00+01:60"],
)
def test_times_that_are_no_real_date_or_time_are_refused_by_the_pattern(when: str) -> None:
    """The pattern decides, not the datetime parser after it, so the JSON Schema that
    carries the pattern refuses them too."""
    assert reason_of(milestone_at(when)) == TIME_PROBLEM
    assert re.search(events.TIMESTAMP_PATTERN, when) is None


EVENT_TIME: TypeAdapter[datetime] = TypeAdapter(events.EventTime)


def accepts(adapter: TypeAdapter[Any], value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def time_accepted(when: str) -> bool:
    return accepts(EVENT_TIME, when)


def test_the_time_pattern_knows_the_calendar_of_every_year_from_1969_to_3000() -> None:
    """Every day 1 to 31 of every month: the pattern accepts exactly the real dates of
    1970 to 2999, and the parser after it never refuses what the pattern let through."""
    wrong = []
    for year in range(1969, 3001):
        for month in range(1, 13):
            for day in range(1, 32):
                when = f"{year:04d}-{month:02d}-{day:02d}T12:00:00Z"
                real = 1970 <= year <= 2999 and day <= calendar.monthrange(year, month)[1]
                by_pattern = re.fullmatch(events.TIMESTAMP_PATTERN, when) is not None
                if by_pattern != real or time_accepted(when) != real:
                    wrong.append(when)
    assert wrong == []
    for when in ("1972-02-29T12:00:00Z", "2000-02-29T12:00:00Z", "2996-02-29T12:00:00Z",
                 "1970-01-02T00:00:00+23:59", "2999-12-30T23:59:59.999999999-23:59"):
        assert time_accepted(when), when


def test_times_and_offsets_are_real_ones() -> None:
    for hour, minute, second in itertools.product(range(25), range(61), range(61)):
        when = f"2026-03-02T{hour:02d}:{minute:02d}:{second:02d}Z"
        real = hour < 24 and minute < 60 and second < 60
        assert time_accepted(when) == real, when
    for sign, hours, minutes in itertools.product("+-", range(25), range(61)):
        when = f"2026-03-02T12:00:00{sign}{hours:02d}:{minutes:02d}"
        assert time_accepted(when) == (hours < 24 and minutes < 60), when


@pytest.mark.parametrize("clock", ["00:00:00", "12:00:00", "23:59:59.999999999"])
def test_on_the_edge_days_the_offset_keeps_the_instant_inside_the_years(clock: str) -> None:
    """No eastern offset on 1970-01-01 (that could be 1969 in UTC), no western one on
    2999-12-31 (3000): what the pattern lets through, the bounds after it accept."""
    for sign, hours, minutes in itertools.product("+-", range(24), range(0, 60, 7)):
        offset = f"{sign}{hours:02d}:{minutes:02d}"
        utc = hours == minutes == 0
        assert time_accepted(f"1970-01-01T{clock}{offset}") == (sign == "-" or utc), offset
        assert time_accepted(f"2999-12-31T{clock}{offset}") == (sign == "+" or utc), offset
    assert time_accepted(f"1970-01-01T{clock}Z") and time_accepted(f"2999-12-31T{clock}z")


@pytest.mark.parametrize(
    ("when", "timestamp"),
    [
        ("2026-03-02T09:00:00Z", 1772442000.0),
        ("2026-03-02t09:00:00z", 1772442000.0),  # RFC 3339 allows lower case
        ("2026-03-02T10:00:00+01:00", 1772442000.0),
        ("2026-03-02T04:30:00-04:30", 1772442000.0),
        ("2026-03-02T09:00:00.250Z", 1772442000.25),
        ("2026-03-02T09:00:00.123456789Z", 1772442000.123456),  # kept to the microsecond
    ],
)
def test_rfc_3339_times_are_accepted(when: str, timestamp: float) -> None:
    assert decode_event(milestone_at(when)).occurred_at.timestamp() == timestamp


def test_optional_times_follow_the_same_rule() -> None:
    reason = reason_of("{" + BASE + ', "type": "subscription", "plan": "p", "started_at": "1772442000"}')
    assert reason.startswith("subscription.started_at: should be an RFC 3339 date-time")


# -- identifiers: printable text ------------------------------------------------

ID_PROBLEM = ("should be printable text: no control, zero-width or other format characters, "
              "no line breaks, no space at either end")


@pytest.mark.parametrize(
    "value",
    ["\u0000", "acme\u0000", "\u001b[31macme", "ac\r\nme", "acme\n", "\t", " ", "   ",
     "\u00a0", "\u3000", "\u200b", "\u200b\u200b", "a\u200db", "\ufeffacme", "ac\u202eme",
     "acme ", " acme", "a\u2028b", "a\u0085b", "a\u00adb", "\u2060", "a\uffffb"],
)
def test_account_ids_that_are_not_printable_text_are_refused(value: str) -> None:
    raw = ('{"event_id": "e", "occurred_at": "2026-03-02T09:00:00Z", "type": "nps", "score": 9, '
           f'"account_id": {json.dumps(value)}}}')
    assert reason_of(raw) == f"nps.account_id: {ID_PROBLEM}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('"type": "milestone", "name": "\\u200b"', "milestone.name"),
        ('"type": "usage", "metric": "  ", "value": 1', "usage.metric"),
        ('"type": "subscription", "plan": "p", "addons": ["ok", "\\u0000"]', "subscription.addons.1"),
        ('"type": "ticket", "ticket_id": "\\r\\n", "status": "opened"', "ticket.ticket_id"),
        ('"type": "offer_response", "offer_id": "\\u001b", "response": "shown"',
         "offer_response.offer_id"),
    ],
)
def test_every_identifier_follows_the_same_rule(body: str, field: str) -> None:
    assert reason_of("{" + BASE + ", " + body + "}") == f"{field}: {ID_PROBLEM}"


def test_event_ids_follow_the_same_rule() -> None:
    raw = ('{"event_id": "\\u0000", "account_id": "a", "occurred_at": "2026-03-02T09:00:00Z", '
           '"type": "nps", "score": 9}')
    assert reason_of(raw) == f"nps.event_id: {ID_PROBLEM}"


@pytest.mark.parametrize(
    "value", ["acme", "a", "Müller GmbH", "acct:42/eu-west", "日本の会社", "team 🚀", "x" * 200]
)
def test_printable_ids_are_accepted(value: str) -> None:
    raw = ('{"event_id": "e", "occurred_at": "2026-03-02T09:00:00Z", "type": "nps", "score": 9, '
           f'"account_id": {json.dumps(value)}}}')
    assert decode_event(raw).account_id == value


def test_ids_longer_than_200_characters_are_refused() -> None:
    raw = "{" + BASE.replace('"acme"', '"' + "x" * 201 + '"') + ', "type": "nps", "score": 9}'
    assert "nps.account_id: String should have at most 200 characters" in reason_of(raw)


REFUSED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def test_the_id_rule_is_exactly_controls_format_characters_and_separators() -> None:
    """Every character of the Basic Multilingual Plane, against Python's Unicode tables."""
    adapter: TypeAdapter[str] = TypeAdapter(Identifier)

    def accepted(text: str) -> bool:
        return accepts(adapter, text)

    wrong = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates cannot be in a decoded JSON string
        char = chr(code)
        category = unicodedata.category(char)
        # U+2065: unassigned, in the block of invisible operators; refused with it.
        refused = category in REFUSED_CATEGORIES or code in (0x2065, 0xFFFE, 0xFFFF)
        if accepted(f"a{char}b") == refused:
            wrong.append(f"U+{code:04X} {category} inside")
        if not refused and accepted(char) == (category == "Zs"):
            wrong.append(f"U+{code:04X} {category} alone")
    assert wrong == []


# -- duplicate keys ----------------------------------------------------------------

SAMPLES = [
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "subscription", "plan": "basic", "addons": ["x", "y"], '
    '"started_at": "2026-01-01T00:00:00Z", "renews_at": null, "schema_version": 1}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "subscription", "plan": "basic"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "subscription", "plan": "basic", "addons": [], "started_at": null, '
    '"renews_at": "2027-01-01T00:00:00Z"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "usage", "metric": "seats", "value": 41}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "usage", "metric": "calls", "delta": 1.5, "value": null, "schema_version": 1}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "feature_gate", "feature": "sso"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "milestone", "name": "done"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "csat", "score": 4.5}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "ticket", "ticket_id": "T1", "status": "opened", "severity": "high"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "ticket", "ticket_id": "T1", "status": "resolved"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "churn_signal", "name": "downgrade_intent"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "offer_response", "offer_id": "o1", "response": "declined"}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "account", "industry": "payroll", "employees": 12, "country": "DE", '
    '"contract_term": "annual", "traits": {"tier": "gold", "seats_bought": 40, "beta": true, '
    '"legacy": null}}',
    '{"event_id": "e1", "account_id": "acme", "occurred_at": "2026-03-02T09:00:00Z", '
    '"type": "account", "industry": null, "traits": {}}',
]


def test_a_repeated_type_is_refused_not_last_one_wins() -> None:
    raw = "{" + BASE + ', "type": "teleport", "score": 9, "type": "nps"}'
    assert reason_of(raw) == "(event): duplicate key 'type': each key may appear once"


@pytest.mark.parametrize("sample", SAMPLES)
def test_any_repeated_key_of_any_event_is_refused(sample: str) -> None:
    fields: dict[str, Any] = json.loads(sample)
    for key, value in fields.items():
        raw = sample[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"
        assert reason_of(raw) == f"(event): duplicate key '{key}': each key may appear once"
        assert reason_of(raw.encode()) == reason_of(raw)
        again: object
        for again in (None, "other", 7, [], {}):  # refused, whether or not the last one is valid
            reason_of(sample[:-1] + f", {json.dumps(key)}: {json.dumps(again)}}}")


@pytest.mark.parametrize("sample", SAMPLES)
def test_plain_events_are_proven_free_of_repeats_without_a_second_parse(
    sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def second_parse(raw: bytes | str) -> None:
        raise AssertionError("took the slow path")

    monkeypatch.setattr(events, "duplicate_key_reason", second_parse)
    decode_event(sample)
    decode_event(sample.encode())


def test_a_repeated_extra_field_is_refused_without_naming_it() -> None:
    raw = "{" + BASE + f', "type": "nps", "score": 9, "{SECRET}": 1, "{SECRET}": 1}}'
    assert reason_of(raw) == "(event): duplicate key in an extra field: each key may appear once"


def test_a_repeated_key_inside_an_extra_object_is_refused() -> None:
    assert "duplicate key" in reason_of("{" + BASE + ', "type": "nps", "score": 9, "x": {"a": 1, "a": 2}}')


@pytest.mark.parametrize(
    "body",
    [
        '"type": "milestone", "name": "say \\"hi\\""',  # escaped quotes count as extra quotes
        '"type": "milestone", "name": "say \\u0022hi\\u0022"',
        '"type": "milestone", "name": "x", "extra": {"a": [1, "b"], "c": "\\""}, "more": "y"',
        '"type": "milestone", "name": "x", "\\u0074ype": "milestone"',  # an escaped key: still parsed
    ],
)
def test_escapes_and_extra_fields_do_not_look_like_repeats(body: str) -> None:
    if "u0074ype" in body:
        assert "duplicate key 'type'" in reason_of("{" + BASE + ", " + body + "}")
    else:
        assert decode_event("{" + BASE + ", " + body + "}").type == "milestone"


# -- the account event ------------------------------------------------------------

ACCOUNT = BASE + ', "type": "account"'


def test_an_account_event_keeps_each_trait_with_its_type() -> None:
    event = decode_event("{" + ACCOUNT + ', "country": "DE", "contract_term": "annual", '
                         '"traits": {"tier": "gold", "seats_bought": 40, "beta": true, "old": null}}')
    assert isinstance(event, events.AccountEvent)
    assert (event.country, event.contract_term) == ("DE", "annual")
    assert event.traits == {"tier": "gold", "seats_bought": 40.0, "beta": True, "old": None}
    assert event.traits["beta"] is True  # a boolean, not the number 1


def test_an_account_event_says_which_fields_it_gave_null_included() -> None:
    event = decode_event("{" + ACCOUNT + ', "industry": null}')
    assert isinstance(event, events.AccountEvent)
    assert "industry" in event.model_fields_set and "employees" not in event.model_fields_set


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (', "traits": {"industry": "payroll"}',
         "'industry' is a field of the account event, not a trait"),
        (', "traits": {"a b": 1}', "account.traits.<key>.<key>: should be a trait name"),
        (', "traits": {"a": [1]}', "account.traits.<key>: should be printable text of 1 to 200 "
                                   "characters, a number from -1e12 to 1e12, a boolean or null"),
        (', "traits": {"a": ""}', "account.traits.<key>: should be printable text"),
        (', "traits": {"a": 1e13}', "account.traits.<key>: should be printable text"),
        (', "traits": {' + ", ".join(f'"t{n}": 1' for n in range(33)) + "}",
         "account.traits: Dictionary should have at most 32 items"),
        (', "traits": null', "account.traits: Input should be an object"),
        (', "country": "de"', "account.country: should be an ISO 3166-1 alpha-2 country code"),
        (', "employees": 12.5', "account.employees: Input should be a valid integer"),
        (', "employees": -1', "account.employees: Input should be greater than or equal to 0"),
        (', "contract_term": "weekly"', "account.contract_term: Input should be 'monthly' or 'annual'"),
    ],
)
def test_a_bad_account_event_names_the_field_and_the_problem(body: str, expected: str) -> None:
    assert expected in reason_of("{" + ACCOUNT + body + "}")


def test_a_whole_number_of_employees_may_be_written_as_a_float() -> None:
    """12.0 is 12 in JSON (and in the JSON Schema's "integer"); Java's doubles write it so."""
    event = decode_event("{" + ACCOUNT + ', "employees": 12.0}')
    assert isinstance(event, events.AccountEvent)
    assert event.employees == 12 and type(event.employees) is int


@pytest.mark.parametrize(("version", "accepted"), [("1", True), ("1.0", True), ("true", False), ("2", False)])
def test_the_contract_version_is_the_number_1_not_a_boolean(version: str, accepted: bool) -> None:
    raw = "{" + BASE + f', "type": "milestone", "name": "x", "schema_version": {version}}}'
    if accepted:
        assert decode_event(raw).schema_version == 1
    else:
        assert reason_of(raw) == "milestone.schema_version: Input should be 1"


def test_a_repeated_trait_is_refused_without_naming_it() -> None:
    raw = "{" + ACCOUNT + f', "traits": {{"{SECRET}": 1, "{SECRET}": 2}}}}'
    assert reason_of(raw) == "(event): duplicate key in 'traits': each key may appear once"


def test_a_trait_value_with_an_escaped_quote_is_not_a_repeat() -> None:
    event = decode_event("{" + ACCOUNT + ', "traits": {"motto": "say \\"hi\\""}}')
    assert isinstance(event, events.AccountEvent)
    assert event.traits == {"motto": 'say "hi"'}
