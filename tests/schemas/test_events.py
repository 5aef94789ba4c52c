"""The event contract: every type decodes; bad events say which field and why."""

import pytest

from schemas.events import InvalidEvent, decode_event

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
    with pytest.raises(InvalidEvent, match=r"milestone\.occurred_at: Input should have timezone"):
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


def test_times_outside_years_1970_to_2999_are_refused() -> None:
    raw = '{"event_id": "e", "account_id": "a", "occurred_at": "9999-12-31T00:00:00Z", ' \
          '"type": "milestone", "name": "x"}'
    with pytest.raises(InvalidEvent, match=r"milestone\.occurred_at: Input should be less than"):
        decode_event(raw)
