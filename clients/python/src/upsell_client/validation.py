"""Check an event against the contract before it leaves the app, with the rules
the engine applies (a refused event would land in the engine's dead-letter
topic instead). Reasons name the field and the problem, never the value, in the
engine's form: `usage.value: should be a number from 0 to 1e12`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from upsell_client import contract
from upsell_client.errors import InvalidEvent

Check = Callable[[Any], str | None]  # the problem with a value, or None
MAX_PROBLEMS = 5


def check_event(fields: Mapping[str, Any]) -> None:
    """Raise InvalidEvent naming every field at fault (at most 5)."""
    problems = list(_problems(fields))
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"and {len(problems) - MAX_PROBLEMS} more")
        raise InvalidEvent("; ".join(shown))


def _problems(fields: Mapping[str, Any]) -> Iterator[str]:
    if not isinstance(fields, Mapping):
        yield "(event): should be an object"
        return
    kind = fields.get("type")
    if kind not in contract.EVENT_TYPES:
        expected = ", ".join(f"'{name}'" for name in contract.EVENT_TYPES)
        yield f"(event): 'type' should be one of {expected}"
        return
    spec = {**_COMMON, **_FIELDS_OF[kind]}
    for name, (check, required) in spec.items():
        if name not in fields:
            if required:
                yield f"{kind}.{name}: required"
            continue
        problem = check(fields[name])
        if problem is not None:  # ".1: ..." is a problem inside the value, at its item 1
            yield f"{kind}.{name}{problem}" if problem.startswith(".") else f"{kind}.{name}: {problem}"
    if kind == "usage" and (fields.get("value") is None) == (fields.get("delta") is None):
        yield "usage: give exactly one of 'value' (a gauge) or 'delta' (a counter)"
    traits = fields.get("traits")
    if kind == "account" and isinstance(traits, Mapping):
        for name in contract.ACCOUNT_FIELDS:
            if name in traits:
                yield f"account: '{name}' is a field of the account event, not a trait"


# -- checks of one value --------------------------------------------------------

def _matching(pattern: re.Pattern[str], problem: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "should be a string"
        return None if pattern.fullmatch(value) else problem
    return check


_match_identifier = _matching(
    contract.IDENTIFIER, "should be printable text: no control, zero-width or other format "
                         "characters, no line breaks, no space at either end")


def identifier(value: Any) -> str | None:
    if isinstance(value, str) and not 1 <= len(value) <= contract.MAX_IDENTIFIER_CHARS:
        return f"should have 1 to {contract.MAX_IDENTIFIER_CHARS} characters"
    return _match_identifier(value)


timestamp = _matching(
    contract.TIMESTAMP, "should be an RFC 3339 date-time with a time zone, a real date and time "
                        "in the years 1970 to 2999, e.g. 2026-03-02T09:00:00Z")
_country = _matching(contract.COUNTRY, "should be an ISO 3166-1 alpha-2 country code in capitals, e.g. DE")
_trait_name = _matching(contract.TRAIT_NAME, "should be a trait name: 1 to 64 letters, digits, "
                                              "'_', '.' or '-'")


def _is_number(value: Any) -> bool:
    # Not bool (True is no number here), not inf or nan (JSON has none; orjson writes null).
    return type(value) is int or (type(value) is float and math.isfinite(value))


def number(low: float, high: float) -> Check:
    problem = f"should be a number from {_plain(low)} to {_plain(high)}"

    def check(value: Any) -> str | None:
        return None if _is_number(value) and low <= value <= high else problem
    return check


def _plain(bound: float) -> str:
    return re.sub(r"e\+0*", "e", f"{bound:g}")  # 1e12, not 1e+12


def whole_number(low: int, high: int) -> Check:
    """An integer; 12.0 counts as 12, as in JSON."""
    def check(value: Any) -> str | None:
        whole = type(value) is int or (_is_number(value) and value.is_integer())
        if whole and low <= value <= high:
            return None
        return f"should be a whole number from {low} to {high}"
    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in choices else (
            "should be " + " or ".join(f"'{choice}'" for choice in choices))
    return check


def nullable(inner: Check) -> Check:
    def check(value: Any) -> str | None:
        return None if value is None else inner(value)
    return check


def _version(value: Any) -> str | None:
    ok = _is_number(value) and value == contract.CONTRACT_VERSION
    return None if ok else f"should be {contract.CONTRACT_VERSION}"


def _addons(value: Any) -> str | None:
    if not isinstance(value, list):
        return "should be a list"
    if len(value) > contract.MAX_ADDONS:
        return f"should have at most {contract.MAX_ADDONS} items"
    for index, item in enumerate(value):
        problem = identifier(item)
        if problem is not None:
            return f".{index}: {problem}"
    return None


_trait_number = number(-contract.MAX_TRAIT_NUMBER, contract.MAX_TRAIT_NUMBER)


def _trait_value(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    problem = identifier(value) if isinstance(value, str) else _trait_number(value)
    return None if problem is None else (
        "should be printable text of 1 to 200 characters, a number from -1e12 to 1e12, "
        "a boolean or null")


def _traits(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "should be an object"
    if len(value) > contract.MAX_TRAITS:
        return f"should have at most {contract.MAX_TRAITS} traits"
    for name, trait in value.items():
        problem = _trait_name(name) or _trait_value(trait)
        if problem is not None:
            return f".<key>: {problem}"  # the trait's name is the customer's: not repeated
    return None


# -- the fields of each type: name -> (check, required) ------------------------------

_COMMON: dict[str, tuple[Check, bool]] = {
    "event_id": (identifier, True),
    "account_id": (identifier, True),
    "occurred_at": (timestamp, True),
    "schema_version": (_version, False),
}
_amount = nullable(number(0, contract.MAX_AMOUNT))
_score = {"score": (number(-contract.MAX_SCORE, contract.MAX_SCORE), True)}
_FIELDS_OF: dict[str, dict[str, tuple[Check, bool]]] = {
    "subscription": {"plan": (identifier, True), "addons": (_addons, False),
                     "started_at": (nullable(timestamp), False),
                     "renews_at": (nullable(timestamp), False),
                     "status": (one_of(*contract.SUBSCRIPTION_STATUSES), False)},
    "usage": {"metric": (identifier, True), "value": (_amount, False), "delta": (_amount, False)},
    "feature_gate": {"feature": (identifier, True)},
    "milestone": {"name": (identifier, True)},
    **{scale: _score for scale in contract.SCALES},
    "ticket": {"ticket_id": (identifier, True), "status": (one_of(*contract.TICKET_STATUSES), True),
               "severity": (one_of(*contract.SEVERITIES), False)},
    "churn_signal": {"name": (identifier, True)},
    "offer_response": {"offer_id": (identifier, True),
                       "response": (one_of(*contract.RESPONSES), True)},
    "account": {"industry": (nullable(identifier), False),
                "employees": (nullable(whole_number(0, contract.MAX_EMPLOYEES)), False),
                "country": (nullable(_country), False),
                "contract_term": (nullable(one_of(*contract.CONTRACT_TERMS)), False),
                "traits": (_traits, False)},
}
