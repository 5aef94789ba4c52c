"""The client's builders make the events the engine decodes, with the same values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from schemas import events as engine
from schemas.events import decode_event
from schemas.offer_responses import offer_response_event_id
from upsell_client import InvalidEvent, events, respond

WHEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def decoded(event: events.Event) -> engine.Event:
    return decode_event(event.json)


@pytest.mark.parametrize(
    ("built", "model", "fields"),
    [
        (events.usage_gauge("acme", "seats", 41, occurred_at=WHEN), engine.UsageEvent,
         {"metric": "seats", "value": 41.0, "delta": None}),
        (events.usage_counter("acme", "api_calls", 120, occurred_at=WHEN), engine.UsageEvent,
         {"metric": "api_calls", "value": None, "delta": 120.0}),
        (events.subscription("acme", "pro", addons=["reports"], started_at=WHEN - timedelta(days=90),
                             renews_at="2027-03-02T09:00:00+01:00", occurred_at=WHEN),
         engine.SubscriptionEvent,
         {"plan": "pro", "addons": ["reports"], "started_at": WHEN - timedelta(days=90),
          "renews_at": datetime(2027, 3, 2, 8, 0, tzinfo=UTC), "status": "active"}),
        (events.subscription("acme", "pro", status="cancelled", occurred_at=WHEN),
         engine.SubscriptionEvent, {"plan": "pro", "status": "cancelled"}),
        (events.feature_gate("acme", "sso", occurred_at=WHEN), engine.FeatureGateEvent,
         {"feature": "sso"}),
        (events.milestone("acme", "project_completed", occurred_at=WHEN), engine.MilestoneEvent,
         {"name": "project_completed"}),
        (events.score("acme", "nps", 9, occurred_at=WHEN), engine.ScoreEvent,
         {"type": "nps", "score": 9.0}),
        (events.score("acme", "health_score", 71.5, occurred_at=WHEN), engine.ScoreEvent,
         {"type": "health_score", "score": 71.5}),
        (events.ticket("acme", "T-1", "opened", severity="urgent", occurred_at=WHEN),
         engine.TicketEvent, {"ticket_id": "T-1", "status": "opened", "severity": "urgent"}),
        (events.churn_signal("acme", "downgrade_intent", occurred_at=WHEN), engine.ChurnSignalEvent,
         {"name": "downgrade_intent"}),
        (events.offer_response("acme", "o-1", "accepted", occurred_at=WHEN), engine.OfferResponseEvent,
         {"offer_id": "o-1", "response": "accepted"}),
        (events.account("acme", industry="payroll", employees=12, country="DE",
                        contract_term="annual", traits={"tier": "gold", "beta": True},
                        occurred_at=WHEN),
         engine.AccountEvent,
         {"industry": "payroll", "employees": 12, "country": "DE", "contract_term": "annual",
          "traits": {"tier": "gold", "beta": True}}),
    ],
)
def test_every_builder_makes_the_event_the_engine_reads(
    built: events.Event, model: type[engine.EventBase], fields: dict[str, object]
) -> None:
    event = decoded(built)
    assert type(event) is model
    assert (event.account_id, event.event_id, event.occurred_at) == ("acme", built.event_id, WHEN)
    assert {name: getattr(event, name) for name in fields} == fields
    assert orjson.loads(built.json) == dict(built.fields)


def test_an_account_event_sends_only_the_attributes_given_and_none_removes_one() -> None:
    built = events.account("acme", industry=None, occurred_at=WHEN)
    assert set(built.fields) == {"event_id", "account_id", "type", "occurred_at", "industry"}
    event = decoded(built)
    assert isinstance(event, engine.AccountEvent)
    assert event.model_fields_set >= {"industry"} and "employees" not in event.model_fields_set


def test_times_are_rfc_3339_with_their_zone_and_a_naive_time_is_refused() -> None:
    assert events.milestone("a", "x", occurred_at=WHEN).fields["occurred_at"] == "2026-03-02T09:00:00Z"
    eastern = WHEN.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert events.milestone("a", "x", occurred_at=eastern).fields["occurred_at"] == (
        "2026-03-02T14:30:00+05:30")
    with pytest.raises(InvalidEvent, match=r"milestone\.occurred_at: should be an RFC 3339 date-time "
                                           r"with a time zone"):
        events.milestone("a", "x", occurred_at=datetime(2026, 3, 2, 9, 0))


def test_the_default_time_is_now_and_the_default_id_is_new_each_time() -> None:
    first, second = events.milestone("a", "x"), events.milestone("a", "x")
    assert first.event_id != second.event_id
    occurred = decoded(first).occurred_at
    assert abs((datetime.now(UTC) - occurred).total_seconds()) < 5


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: events.usage_gauge("acme", "seats", -1),
         "usage.value: should be a number from 0 to 1e12"),
        (lambda: events.usage_gauge("acme ", "seats", 1), "usage.account_id: should be printable text"),
        (lambda: events.score("acme", "nps", 2e6), "nps.score: should be a number from -1e6 to 1e6"),
        (lambda: events.subscription("acme", "basic", addons=["ok", ""]),
         "subscription.addons.1: should have 1 to 200 characters"),
        (lambda: events.account("acme", traits={"industry": "x"}),
         "account: 'industry' is a field of the account event, not a trait"),
        (lambda: events.milestone("acme", "x", event_id="a\u200bb"),
         "milestone.event_id: should be printable text"),
        (lambda: events.milestone("acme", "x\ud800"), "(event): cannot be written as JSON"),
        (lambda: events.from_fields({"type": "usage", "event_id": "e", "account_id": "a",
                                     "occurred_at": "2026-03-02T09:00:00Z", "metric": "m"}),
         "usage: give exactly one of 'value' (a gauge) or 'delta' (a counter)"),
    ],
)
def test_an_event_the_engine_would_refuse_is_refused_by_the_builder(
    build: Callable[[], object], reason: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        build()
    assert caught.value.reason.startswith(reason)


def test_a_reason_never_repeats_the_value() -> None:
    with pytest.raises(InvalidEvent) as caught:
        events.usage_gauge("secret-customer\n", "seats", 1)
    assert "secret" not in caught.value.reason


def test_from_fields_keeps_extra_fields_which_the_engine_ignores() -> None:
    built = events.from_fields({"event_id": "e", "account_id": "a", "type": "milestone", "name": "x",
                                "occurred_at": "2026-03-02T09:00:00Z", "source": "crm"})
    assert orjson.loads(built.json)["source"] == "crm"
    assert decoded(built).type == "milestone"


OFFER = {"offer_id": "4449f5c226e3119bc611e69e12199389", "account_id": "acme", "kind": "upsell",
         "trigger_id": "seats-100"}


def test_respond_takes_the_ids_from_the_offer_and_derives_the_event_id() -> None:
    first = respond(OFFER, "declined", occurred_at=WHEN)
    paris = WHEN.astimezone(timezone(timedelta(hours=1)))
    again = respond(orjson.dumps(OFFER), "declined", occurred_at=paris)
    event = decoded(first)
    assert isinstance(event, engine.OfferResponseEvent)
    assert (event.account_id, event.offer_id, event.response) == ("acme", OFFER["offer_id"], "declined")
    assert first.event_id == again.event_id  # one moment, two spellings: one event
    assert respond(OFFER, "shown", occurred_at=WHEN).event_id != first.event_id
    assert respond(OFFER, "declined", occurred_at=WHEN + timedelta(seconds=1)).event_id != first.event_id
    assert respond({**OFFER, "offer_id": "other"}, "declined", occurred_at=WHEN).event_id != first.event_id


@pytest.mark.parametrize("when", [WHEN, WHEN.replace(microsecond=250000),
                                  WHEN.astimezone(timezone(timedelta(hours=-4, minutes=-30)))])
def test_respond_derives_the_id_as_the_engines_http_ingest_does(when: datetime) -> None:
    assert respond(OFFER, "declined", occurred_at=when).event_id == offer_response_event_id(
        OFFER["offer_id"], "declined", when)
    # The engine's golden id (tests/schemas/test_offer_responses.py), computed here alone.
    assert respond(OFFER, "declined", occurred_at=WHEN).event_id == "resp1-a0ffdd688fe33028b3d2eb1805eef3e4"


def test_respond_without_a_time_means_now_to_the_second() -> None:
    event = respond(OFFER, "accepted")
    occurred = datetime.fromisoformat(str(event.fields["occurred_at"]))
    assert occurred.microsecond == 0 and abs((datetime.now(UTC) - occurred).total_seconds()) < 5
    assert event.event_id == offer_response_event_id(OFFER["offer_id"], "accepted", occurred)


def test_respond_to_something_that_is_no_offer_says_so() -> None:
    with pytest.raises(InvalidEvent, match=r"offer_response\.offer_id: required"):
        respond({"account_id": "acme"}, "declined")
    with pytest.raises(InvalidEvent, match=r"\(offer\): should be an object"):
        respond(b"[1, 2]", "declined")
