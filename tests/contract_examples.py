"""Events that follow the contract (v1) and events that break it, one rule each.

The one table that the engine (`decode_event`), the published JSON Schema and
the product apps' client must all decide alike (tests/test_contract_parity.py).
A rule added to the engine gets its examples here, and the test then shows
whether the JSON Schema and the client know it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WHEN = "2026-03-02T09:00:00Z"


@dataclass(frozen=True)
class Example:
    name: str
    valid: bool
    event: Any  # what a JSON text decodes to: usually an object


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """An event of that type with the common fields, and these fields added (or
    replaced, or with the value `...` removed)."""
    built = {"event_id": "e-1", "account_id": "acme", "type": kind, "occurred_at": WHEN,
             **MINIMAL.get(kind, {}), **fields}
    return {name: value for name, value in built.items() if value is not ...}


MINIMAL: dict[str, dict[str, Any]] = {
    "subscription": {"plan": "basic"},
    "usage": {"metric": "seats", "value": 41},
    "feature_gate": {"feature": "sso"},
    "milestone": {"name": "project_completed"},
    "nps": {"score": 9},
    "csat": {"score": 4.5},
    "health_score": {"score": 71},
    "ticket": {"ticket_id": "T-1", "status": "opened"},
    "churn_signal": {"name": "downgrade_intent"},
    "offer_response": {"offer_id": "26a4b26702c872cf4f4924ae14944eb3", "response": "declined"},
    "account": {},
}


def valid(name: str, built: Any) -> Example:
    return Example(name, True, built)


def invalid(name: str, built: Any) -> Example:
    return Example(name, False, built)


def _at(when: str) -> dict[str, Any]:
    return event("milestone", occurred_at=when)


EXAMPLES: list[Example] = [
    # -- every type, with only what it needs ------------------------------------
    *(valid(f"a minimal {kind} event", event(kind)) for kind in MINIMAL),
    valid("extra fields are ignored", event("milestone", source="crm", nested={"a": [1]})),
    invalid("not an object", [event("milestone")]),
    invalid("no type", event("milestone", type=...)),
    invalid("an unknown type", event("milestone", type="teleport")),
    invalid("a type that is no string", event("milestone", type=5)),
    invalid("no event_id", event("milestone", event_id=...)),
    invalid("no account_id", event("milestone", account_id=...)),
    invalid("no occurred_at", event("milestone", occurred_at=...)),

    # -- identifiers: printable text, 1 to 200 characters -----------------------
    valid("an id with letters of any script", event("milestone", account_id="Müller GmbH 日本 🚀")),
    valid("an id of 200 characters", event("milestone", account_id="x" * 200)),
    invalid("an id of 201 characters", event("milestone", account_id="x" * 201)),
    invalid("an empty id", event("milestone", event_id="")),
    invalid("an id with a space at the start", event("milestone", account_id=" acme")),
    invalid("an id with a space at the end", event("milestone", account_id="acme ")),
    invalid("an id that is only a no-break space", event("milestone", account_id="\u00a0")),
    invalid("an id with a NUL", event("milestone", account_id="ac\u0000me")),
    invalid("an id with an escape sequence", event("milestone", account_id="\u001b[31macme")),
    invalid("an id with a zero-width space", event("milestone", account_id="ac\u200bme")),
    invalid("an id with a byte order mark", event("milestone", account_id="\ufeffacme")),
    invalid("an id with a line separator", event("milestone", account_id="a\u2028b")),
    invalid("an id ending in a line break", event("milestone", account_id="acme\n")),
    invalid("an id that is a number", event("milestone", account_id=42)),
    invalid("an id that is null", event("milestone", account_id=None)),

    # -- times: RFC 3339 with a zone, real dates and times, years 1970 to 2999 --
    valid("a time in UTC", _at("2026-03-02T09:00:00Z")),
    valid("a time in lower case", _at("2026-03-02t09:00:00z")),
    valid("a time with an eastern offset", _at("2026-03-02T10:00:00+01:00")),
    valid("a time with a western half-hour offset", _at("2026-03-02T04:30:00-04:30")),
    valid("a time with -00:00", _at("2026-03-02T09:00:00-00:00")),
    valid("a time with nanoseconds", _at("2026-03-02T09:00:00.123456789Z")),
    invalid("a time with 10 fraction digits", _at("2026-03-02T09:00:00.1234567890Z")),
    invalid("a time without a zone", _at("2026-03-02T09:00:00")),
    invalid("a date alone", _at("2026-03-02")),
    invalid("a space for the T", _at("2026-03-02 09:00:00Z")),
    invalid("a time without seconds", _at("2026-03-02T09:00Z")),
    invalid("an offset without a colon", _at("2026-03-02T09:00:00+0100")),
    invalid("Unix time in a string", _at("1772442000")),
    invalid("Unix time as a number", _at(1772442000)),
    invalid("a time ending in a line break", _at("2026-03-02T09:00:00Z\n")),
    invalid("February 30", _at("2026-02-30T09:00:00Z")),
    invalid("April 31", _at("2026-04-31T09:00:00Z")),
    invalid("month 13", _at("2026-13-01T09:00:00Z")),
    invalid("day 0", _at("2026-03-00T09:00:00Z")),
    valid("February 29 of a leap year", _at("2024-02-29T09:00:00Z")),
    valid("February 29 of 2000", _at("2000-02-29T09:00:00Z")),
    invalid("February 29 of 2100, no leap year", _at("2100-02-29T09:00:00Z")),
    invalid("hour 24", _at("2026-03-02T24:00:00Z")),
    invalid("minute 60", _at("2026-03-02T09:60:00Z")),
    invalid("a leap second", _at("2026-12-31T23:59:60Z")),
    invalid("an offset of 24 hours", _at("2026-03-02T09:00:00+24:00")),
    invalid("an offset of 60 minutes", _at("2026-03-02T09:00:00+01:60")),
    valid("the first instant of 1970", _at("1970-01-01T00:00:00Z")),
    valid("1970-01-01 west of UTC", _at("1970-01-01T00:00:00-05:00")),
    invalid("1970-01-01 east of UTC: 1969 in UTC", _at("1970-01-01T00:30:00+01:00")),
    invalid("the year 1969", _at("1969-12-31T23:59:59Z")),
    valid("the last second of 2999", _at("2999-12-31T23:59:59Z")),
    valid("2999-12-31 east of UTC", _at("2999-12-31T10:00:00+05:00")),
    invalid("2999-12-31 west of UTC: 3000 in UTC", _at("2999-12-31T23:00:00-05:00")),
    invalid("the year 3000", _at("3000-01-01T00:00:00Z")),
    invalid("the year 9999", _at("9999-12-31T00:00:00Z")),

    # -- the contract version ---------------------------------------------------
    valid("schema_version 1", event("milestone", schema_version=1)),
    valid("schema_version 1.0", event("milestone", schema_version=1.0)),
    invalid("schema_version 2", event("milestone", schema_version=2)),
    invalid("schema_version true", event("milestone", schema_version=True)),
    invalid("schema_version as text", event("milestone", schema_version="1")),
    invalid("schema_version null", event("milestone", schema_version=None)),

    # -- subscription -----------------------------------------------------------
    valid("a subscription with add-ons and dates", event(
        "subscription", addons=["reports", "sso"], started_at="2025-01-01T00:00:00Z",
        renews_at="2027-01-01T00:00:00+01:00")),
    valid("a subscription with null dates", event("subscription", started_at=None, renews_at=None)),
    valid("a cancelled subscription", event("subscription", status="cancelled")),
    valid("an active subscription", event("subscription", status="active")),
    invalid("a paused subscription (no such status)", event("subscription", status="paused")),
    invalid("a subscription with a null status", event("subscription", status=None)),
    valid("100 add-ons", event("subscription", addons=[f"a{n}" for n in range(100)])),
    invalid("101 add-ons", event("subscription", addons=[f"a{n}" for n in range(101)])),
    invalid("a subscription without a plan", event("subscription", plan=...)),
    invalid("add-ons that are not a list", event("subscription", addons="reports")),
    invalid("add-ons that are null", event("subscription", addons=None)),
    invalid("an add-on that is no identifier", event("subscription", addons=["ok", " bad"])),
    invalid("an add-on that is a number", event("subscription", addons=[1])),
    invalid("a renewal on February 30", event("subscription", renews_at="2027-02-30T00:00:00Z")),
    invalid("a start date alone", event("subscription", started_at="2025-01-01")),
    invalid("a start without a zone", event("subscription", started_at="2025-01-01T00:00:00")),

    # -- usage: exactly one of value (a gauge) or delta (a counter), 0 to 1e12 ---
    valid("a gauge reading", event("usage", value=41.5)),
    valid("a counter", event("usage", value=..., delta=120)),
    valid("a counter with a null value", event("usage", value=None, delta=1)),
    valid("a gauge at 0", event("usage", value=0)),
    valid("a gauge at 1e12", event("usage", value=1e12)),
    invalid("a gauge above 1e12", event("usage", value=1_000_000_000_001)),
    invalid("a negative gauge", event("usage", value=-1)),
    invalid("a negative counter", event("usage", value=..., delta=-0.5)),
    invalid("both value and delta", event("usage", value=1, delta=1)),
    invalid("neither value nor delta", event("usage", value=...)),
    invalid("value and delta both null", event("usage", value=None, delta=None)),
    invalid("a value in a string", event("usage", value="41")),
    invalid("a value that is a boolean", event("usage", value=True)),
    invalid("usage without a metric", event("usage", metric=...)),
    invalid("a metric that is no identifier", event("usage", metric="  ")),

    # -- feature_gate, milestone, churn_signal ----------------------------------
    invalid("a feature gate without a feature", event("feature_gate", feature=...)),
    invalid("an empty feature", event("feature_gate", feature="")),
    invalid("a milestone without a name", event("milestone", name=...)),
    invalid("a churn signal without a name", event("churn_signal", name=...)),
    invalid("a churn signal name with a zero-width joiner", event("churn_signal", name="a\u200db")),

    # -- scores: -1e6 to 1e6 ------------------------------------------------------
    valid("a score of -1e6", event("nps", score=-1e6)),
    valid("a score of 1e6", event("health_score", score=1e6)),
    invalid("a score above 1e6", event("csat", score=1_000_001)),
    invalid("a score below -1e6", event("nps", score=-1_000_001)),
    invalid("a score in a string", event("nps", score="9")),
    invalid("a score that is a boolean", event("nps", score=True)),
    invalid("a score that is null", event("nps", score=None)),
    invalid("a score event without a score", event("nps", score=...)),

    # -- tickets --------------------------------------------------------------------
    valid("an urgent ticket opened", event("ticket", severity="urgent")),
    valid("a ticket resolved", event("ticket", status="resolved")),
    invalid("a ticket closed (no such status)", event("ticket", status="closed")),
    invalid("a ticket without a status", event("ticket", status=...)),
    invalid("a critical ticket (no such severity)", event("ticket", severity="critical")),
    invalid("a ticket with a null severity", event("ticket", severity=None)),
    invalid("a ticket without an id", event("ticket", ticket_id=...)),

    # -- offer responses --------------------------------------------------------------
    *(valid(f"an offer {response}", event("offer_response", response=response))
      for response in ("shown", "accepted", "dismissed", "declined")),
    invalid("an offer clicked (no such response)", event("offer_response", response="clicked")),
    invalid("a response without an offer id", event("offer_response", offer_id=...)),
    invalid("a response to an offer id with a NUL", event("offer_response", offer_id="o\u0000")),

    # -- account attributes and traits --------------------------------------------------
    valid("an account with every attribute", event(
        "account", industry="payroll", employees=12, country="DE", contract_term="annual",
        traits={"tier": "gold", "seats_bought": 40, "beta": True, "legacy": None})),
    valid("an account removing attributes", event(
        "account", industry=None, employees=None, country=None, contract_term=None, traits={})),
    valid("12.0 employees", event("account", employees=12.0)),
    valid("100,000,000 employees", event("account", employees=100_000_000)),
    invalid("12.5 employees", event("account", employees=12.5)),
    invalid("-1 employees", event("account", employees=-1)),
    invalid("100,000,001 employees", event("account", employees=100_000_001)),
    invalid("employees in a string", event("account", employees="12")),
    invalid("employees as a boolean", event("account", employees=True)),
    invalid("a country in lower case", event("account", country="de")),
    invalid("a three-letter country", event("account", country="DEU")),
    invalid("a country ending in a line break", event("account", country="DE\n")),
    invalid("an industry that is no identifier", event("account", industry="")),
    invalid("a weekly contract (no such term)", event("account", contract_term="weekly")),
    valid("32 traits", event("account", traits={f"t{n}": n for n in range(32)})),
    invalid("33 traits", event("account", traits={f"t{n}": n for n in range(33)})),
    valid("a trait name of 64 characters", event("account", traits={"t" * 64: 1})),
    invalid("a trait name of 65 characters", event("account", traits={"t" * 65: 1})),
    invalid("a trait name with a space", event("account", traits={"a b": 1})),
    invalid("a trait name ending in a line break", event("account", traits={"tier\n": 1})),
    invalid("a trait named like the industry field", event("account", traits={"industry": "x"})),
    invalid("a trait named like the employees field", event("account", traits={"employees": 3})),
    invalid("a trait that is a list", event("account", traits={"a": [1]})),
    invalid("a trait that is an object", event("account", traits={"a": {"b": 1}})),
    invalid("an empty text trait", event("account", traits={"a": ""})),
    invalid("a text trait with a control character", event("account", traits={"a": "x\u0007"})),
    valid("a numeric trait of -1e12", event("account", traits={"a": -1e12})),
    invalid("a numeric trait above 1e12", event("account", traits={"a": 1e13})),
    invalid("traits that are null", event("account", traits=None)),
    invalid("traits that are a list", event("account", traits=["a"])),
]
