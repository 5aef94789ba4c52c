"""Usage events, contract v1: what product apps send to the `usage-events` topic.

Every event names its account, its kind (`type`) and when it happened
(`occurred_at`, RFC 3339 with a time zone). Decisions use that event time,
never the clock of the machine that reads the event, so a replay of the same
events gives the same offers.

Decoding is strict (no silent coercion of "41" into 41, no Unix time in a
string, no duplicate keys) and goes straight from JSON bytes to a model
through one cached TypeAdapter, which is the fastest path pydantic offers.
Unknown extra fields are ignored so producers can add fields before the engine
knows them. The rules on strings are regular expressions written so that the
JSON Schema exported from these models carries them unchanged to producers in
other languages. A refused event's reason names fields and problems only,
never a value: it goes to logs, stderr and the dead-letter topic's headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

CONTRACT_VERSION = 1

# What an identifier (account, event, plan, metric, ...) may hold: printable
# text. Refused anywhere in it: C0 and C1 controls and DEL, the format
# characters of the Basic Multilingual Plane (zero-width spaces and joiners,
# bidi controls, BOM, soft hyphen, ...), line and paragraph separators, and the
# noncharacters U+FFFE and U+FFFF; at either end also white space, so that
# "acme" and "acme " cannot be two accounts, and a blank id is no id. Only
# \uXXXX escapes and plain classes: the same text is a valid pattern for
# pydantic's Rust regex, for ECMA-262 (what JSON Schema specifies) and Python's re.
_INVISIBLE = (
    r"\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
    r"\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff"
)
_SPACE = r"\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
IDENTIFIER_PATTERN = f"^[^{_INVISIBLE}{_SPACE}](?:[^{_INVISIBLE}]*[^{_INVISIBLE}{_SPACE}])?$"

# RFC 3339 date-time with its time zone ("Z" or "+01:00"): no Unix time in a
# string, no date alone, no missing seconds or zone. At most 9 fraction digits
# (nanoseconds, what Go and Java write); pydantic keeps microseconds.
#
# The pattern alone decides, so that the JSON Schema that carries it refuses
# what the engine refuses: only real dates (February 29 in leap years only) and
# times (no hour 24, no leap second, offsets under 24 hours), in the years 1970
# to 2999. On the two edge days the offset is restricted so that the instant
# stays inside [1970-01-01T00:00Z, 3000-01-01T00:00Z) too: no eastern offset on
# 1970-01-01 (it would be 1969 in UTC), no western one on 2999-12-31.
_D31, _D30, _D28 = "(?:0[1-9]|[12][0-9]|3[01])", "(?:0[1-9]|[12][0-9]|30)", "(?:0[1-9]|1[0-9]|2[0-8])"
_M30 = "(?:0[469]|11)"  # April, June, September, November
_MONTH_DAY = f"(?:(?:0[13578]|1[02])-{_D31}|{_M30}-{_D30}|02-{_D28})"  # February 29: below
_LEAP_YEAR = "(?:19(?:7[26]|8[048]|9[26])|2[0-9](?:0[48]|[2468][048]|[13579][26])|2[048]00)"
_DATE = (
    f"(?:(?:197[1-9]|19[89][0-9]|2[0-8][0-9]{{2}}|29[0-8][0-9]|299[0-8])-{_MONTH_DAY}"
    f"|{_LEAP_YEAR}-02-29"
    f"|1970-(?:01-(?:0[2-9]|[12][0-9]|3[01])|(?:0[3578]|1[02])-{_D31}|{_M30}-{_D30}|02-{_D28})"
    f"|2999-(?:(?:0[13578]|10)-{_D31}|12-(?:0[1-9]|[12][0-9]|30)|{_M30}-{_D30}|02-{_D28}))"
)
_TIME = r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_OFFSET = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"
TIMESTAMP_PATTERN = (
    f"^(?:{_DATE}{_TIME}(?:[Zz]|[+-]{_OFFSET})"
    f"|1970-01-01{_TIME}(?:[Zz]|[+-]00:00|-{_OFFSET})"
    f"|2999-12-31{_TIME}(?:[Zz]|[+-]00:00|\\+{_OFFSET}))$"
)


def _json_schema_extra(**extra: str) -> dict[str, Any]:
    """Core-schema metadata that adds `extra` to the type's own JSON Schema entry."""

    def add(schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), **extra}

    return {"pydantic_js_functions": [add]}


class _Identifier:
    """A string that names something (see IDENTIFIER_PATTERN); one `$defs` entry
    of the JSON Schema, so the long pattern is written once."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.str_schema(
            min_length=1, max_length=200, pattern=IDENTIFIER_PATTERN, ref="Identifier",
            metadata=_json_schema_extra(
                description="Printable text, 1 to 200 characters: no control, zero-width or "
                            "other format characters, no line breaks, no space at either end."
            ),
        )


Identifier = Annotated[str, _Identifier()]


def _not_a_boolean(value: Any) -> Any:
    """pydantic's Literal[1] takes `true` (True == 1 in Python); JSON Schema's const does not."""
    if isinstance(value, bool):
        raise PydanticCustomError("literal_error", "Input should be 1")
    return value


class _Rfc3339:
    """An aware datetime that was an RFC 3339 string in the JSON.

    pydantic's own datetime also takes "1772442000" (Unix time in a string) and
    "2026-03-02 09:00Z"; here the string must match TIMESTAMP_PATTERN first. Both
    steps run in pydantic-core (a chain), so the hot path gains no Python call.
    """

    # Bounds keep a value the contract accepts from breaking the arithmetic behind
    # it: an offer expires days after its event, a billing period ends a month on.
    # TIMESTAMP_PATTERN already keeps every time inside them (tested): they say
    # what the arithmetic relies on, and catch a pattern edited wrongly.
    EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
    END = datetime(3000, 1, 1, tzinfo=UTC)  # excluded

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.chain_schema([
            core_schema.str_schema(pattern=TIMESTAMP_PATTERN, strict=True),
            # Not strict: its input is the string the first step let through.
            core_schema.datetime_schema(
                tz_constraint="aware", ge=self.EARLIEST, lt=self.END, strict=False
            ),
        ], ref="EventTime", metadata=_json_schema_extra(
            # In validation mode pydantic describes a chain by its first step: the string.
            description="RFC 3339 date-time with a time zone, years 1970 to 2999.",
            format="date-time",
        ))


EventTime = Annotated[datetime, _Rfc3339()]
Amount = Annotated[float, Field(ge=0, le=1e12)]


class EventBase(BaseModel):
    """Fields every event carries."""

    # allow_inf_nan=False: JSON has no Infinity or NaN, but lenient parsers accept them.
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", allow_inf_nan=False)

    # How many of the fields that are always present hold one JSON string each;
    # `_json_strings` adds the optional ones. decode_event counts quotes with them.
    _REQUIRED_STRINGS: ClassVar[int] = 4  # event_id, account_id, occurred_at, type

    event_id: Identifier = Field(description="Unique id of this event; duplicates are dropped.")
    account_id: Identifier = Field(description="The customer account; also the Kafka key.")
    occurred_at: EventTime = Field(description="When it happened (RFC 3339, with time zone).")
    schema_version: Annotated[Literal[1], BeforeValidator(_not_a_boolean)] = Field(
        default=1, description="Version of this contract."
    )

    def _json_strings(self) -> int:
        """JSON strings among this event's values, as decoded (keys not counted)."""
        return self._REQUIRED_STRINGS


class SubscriptionEvent(EventBase):
    """The account's current plan and add-ons (sent on signup and on every change)."""

    _REQUIRED_STRINGS = 5  # + plan

    type: Literal["subscription"]
    plan: Identifier
    # Bounded: the add-ons are kept in the account's state.
    addons: list[Identifier] = Field(default_factory=list, max_length=100)
    started_at: EventTime | None = Field(
        default=None, description="Signup date; starts the onboarding grace period."
    )
    renews_at: EventTime | None = None
    status: Literal["active", "cancelled"] = Field(
        default="active",
        description="cancelled: the account left (its plan is the one it left); a later "
                    "active subscription brings it back.",
    )

    def _json_strings(self) -> int:
        started, renews = self.started_at is not None, self.renews_at is not None
        status = "status" in self.__pydantic_fields_set__
        return self._REQUIRED_STRINGS + len(self.addons) + started + renews + status


class UsageEvent(EventBase):
    """A metric reading: `value` for a gauge (level now) or `delta` for a counter."""

    # `_value_or_delta` in the JSON Schema's terms (a null counts as absent).
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": [name], "properties": {name: {"type": "number"}}} for name in ("value", "delta")
    ]})

    _REQUIRED_STRINGS = 5  # + metric

    type: Literal["usage"]
    metric: Identifier
    value: Amount | None = Field(default=None, description="Gauge: the level now.")
    delta: Amount | None = Field(
        default=None, description="Counter: the amount used since the last event."
    )

    @model_validator(mode="after")
    def _value_or_delta(self) -> UsageEvent:
        if (self.value is None) == (self.delta is None):
            raise ValueError("give exactly one of 'value' (a gauge) or 'delta' (a counter)")
        return self


class FeatureGateEvent(EventBase):
    """A user tried a feature the account's plan does not include."""

    _REQUIRED_STRINGS = 5  # + feature

    type: Literal["feature_gate"]
    feature: Identifier


class MilestoneEvent(EventBase):
    """A success moment: project completed, goal achieved, ..."""

    _REQUIRED_STRINGS = 5  # + name

    type: Literal["milestone"]
    name: Identifier


class ScoreEvent(EventBase):
    """A satisfaction or health score; `type` says which scale."""

    type: Literal["nps", "csat", "health_score"]
    score: Annotated[float, Field(ge=-1e6, le=1e6)]


class TicketEvent(EventBase):
    """A support ticket opened or resolved; severe open tickets hold offers back."""

    _REQUIRED_STRINGS = 6  # + ticket_id, status

    type: Literal["ticket"]
    ticket_id: Identifier
    status: Literal["opened", "resolved"]
    severity: Literal["low", "normal", "high", "urgent"] = "normal"

    def _json_strings(self) -> int:
        return self._REQUIRED_STRINGS + ("severity" in self.__pydantic_fields_set__)


class ChurnSignalEvent(EventBase):
    """A sign the account may leave: downgrade intent, cancellation started, ..."""

    _REQUIRED_STRINGS = 5  # + name

    type: Literal["churn_signal"]
    name: Identifier


class OfferResponseEvent(EventBase):
    """What happened to an offer, reported back by in-app messaging."""

    _REQUIRED_STRINGS = 6  # + offer_id, response

    type: Literal["offer_response"]
    offer_id: Identifier
    response: Literal["shown", "accepted", "dismissed", "declined"]


# The account event's own attributes; a trait may not take one of their names.
ACCOUNT_FIELDS = ("industry", "employees", "country", "contract_term")
MAX_TRAITS = 32
TRAIT_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
TraitKey = Annotated[str, Field(pattern=TRAIT_KEY_PATTERN)]


class _TraitValue:
    """Text (an Identifier), a number, a boolean, or null (which removes the trait).
    One error for the whole union: pydantic's own would list a failure per member."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.nullable_schema(core_schema.union_schema(
            [handler(Identifier), core_schema.float_schema(ge=-1e12, le=1e12),
             core_schema.bool_schema()],
            custom_error_type="trait_value",
            custom_error_message="should be printable text of 1 to 200 characters, a number "
                                 "from -1e12 to 1e12, a boolean or null",
        ))


TraitValue = Annotated[str | float | bool | None, _TraitValue()]


def _whole_number(value: Any) -> Any:
    """12.0 as 12: JSON (and so the JSON Schema's "integer") does not tell them apart,
    and some encoders (Java's double, Python's float) write the one for the other."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


class AccountEvent(EventBase):
    """What the account is: industry, headcount, country, contract term and custom
    traits, for segments (`when:` in the rules file).

    Its own event type rather than `traits` on `subscription`: attributes change on
    their own (a CRM sync, a headcount growing) and come from other systems than
    billing, which sends subscriptions; the subscription contract stays as it is.

    Every field is optional: a field present replaces the attribute, null removes
    it, a field absent leaves it as it was. The same for each trait. An account
    keeps at most 32 traits (MAX_TRAITS).
    """

    type: Literal["account"]
    industry: Identifier | None = None
    employees: Annotated[int, Field(ge=0, le=100_000_000), BeforeValidator(_whole_number)] | None = None
    country: Annotated[str, Field(pattern=COUNTRY_PATTERN,
                                  description="ISO 3166-1 alpha-2, e.g. DE.")] | None = None
    contract_term: Literal["monthly", "annual"] | None = None
    traits: dict[TraitKey, TraitValue] = Field(
        default_factory=dict, max_length=MAX_TRAITS,
        description="Custom attributes: text (an identifier), number or boolean; null removes one.",
        json_schema_extra={
            "additionalProperties": False,  # a name must match the pattern
            "propertyNames": {"not": {"enum": list(ACCOUNT_FIELDS)}},  # _traits_are_not_fields
        },
    )

    @model_validator(mode="after")
    def _traits_are_not_fields(self) -> AccountEvent:
        for name in ACCOUNT_FIELDS:
            if name in self.traits:
                raise ValueError(f"'{name}' is a field of the account event, not a trait")
        return self

    def _json_strings(self) -> int:
        # Trait keys are keys of a nested object: two quotes each, like a string.
        texts = (self.industry, self.country, self.contract_term, *self.traits.values())
        return self._REQUIRED_STRINGS + len(self.traits) + sum(isinstance(t, str) for t in texts)


Event = Annotated[
    SubscriptionEvent
    | UsageEvent
    | FeatureGateEvent
    | MilestoneEvent
    | ScoreEvent
    | TicketEvent
    | ChurnSignalEvent
    | OfferResponseEvent
    | AccountEvent,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: tuple[str, ...] = (
    "subscription",
    "usage",
    "feature_gate",
    "milestone",
    "nps",
    "csat",
    "health_score",
    "ticket",
    "churn_signal",
    "offer_response",
    "account",
)


class InvalidEvent(ValueError):
    """An event that does not follow the contract; `reason` says which field and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_event(raw: bytes | str) -> Event:
    """Parse and validate one JSON event, or raise InvalidEvent naming the field at fault."""
    try:
        event = EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from None
    # Repeated keys: pydantic keeps the last one, so {"type": "teleport", ..., "type":
    # "nps"} would be an nps event. Proof that no key repeats, without a parse: every
    # JSON string (key or value) has two quote characters, plus one per \" inside it.
    # Each field the event has came from at least one key and each of its string
    # values from one string, so the text holds at least 2 * (fields + strings)
    # quotes, and exactly that many only when no key repeats and none is extra.
    # Anything else (an extra field, an escaped quote, a repeated key) is parsed
    # again to find out (~2 us).
    quotes = raw.count(b'"') if isinstance(raw, bytes) else raw.count('"')
    if quotes != 2 * (len(event.__pydantic_fields_set__) + event._json_strings()):
        reason = duplicate_key_reason(raw)
        if reason is not None:
            raise InvalidEvent(reason)
    return event


# -- reasons ------------------------------------------------------------------
# A reason goes to logs, stderr and a Kafka header of the dead-letter topic, so
# it is built from pydantic's error type, its location and texts of our own or
# from the schema, never from the input: pydantic's own message quotes the
# input for some types (an unknown `type` tag, verbatim, whatever its size).

MAX_REASON_CHARS = 500
_MAX_PROBLEMS = 5

#: pydantic messages made only of the schema's own values (bounds, expected literals).
_SCHEMA_ONLY_MESSAGES = frozenset({
    "missing", "string_type", "string_too_short", "string_too_long", "float_type",
    "int_type", "bool_type", "finite_number", "greater_than", "greater_than_equal",
    "less_than", "less_than_equal", "literal_error", "list_type", "too_long", "too_short",
    "model_type", "model_attributes_type", "dict_type", "datetime_type", "timezone_aware",
    "timezone_naive", "union_tag_not_found", "json_type", "string_unicode",
    "value_error",  # raised by this module's validators only, with our own text
    "trait_value",  # likewise
})
_PATTERN_MESSAGES = {
    IDENTIFIER_PATTERN: "should be printable text: no control, zero-width or other format "
                        "characters, no line breaks, no space at either end",
    TIMESTAMP_PATTERN: "should be an RFC 3339 date-time with a time zone, a real date and time "
                       "in the years 1970 to 2999, e.g. 2026-03-02T09:00:00Z",
    TRAIT_KEY_PATTERN: "should be a trait name: 1 to 64 letters, digits, '_', '.' or '-'",
    COUNTRY_PATTERN: "should be an ISO 3166-1 alpha-2 country code in capitals, e.g. DE",
}
# jiter's and speedate's explanations ("EOF while parsing a string at line 1
# column 9", "month value is outside expected range of 1-12") are fixed texts;
# kept only while they look like one.
_FIXED_TEXT = re.compile(r"[A-Za-z0-9 ,.`_()\[\]{}:\\+-]{1,120}")


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: what is wrong` per problem, at most 5, at most 500 characters."""
    errors = exc.errors(include_url=False, include_input=False)
    problems = [f"{_path(error['loc'])}: {_message(error)}" for error in errors[:_MAX_PROBLEMS]]
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"and {len(errors) - _MAX_PROBLEMS} more")
    return _bounded("; ".join(problems))


def duplicate_key_reason(raw: bytes | str) -> str | None:
    """The reason to refuse a JSON text that repeats a key in an object, or None."""
    try:
        repeat = _PAIRS_DECODER.decode(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError:  # jiter accepted it; should not happen, refuse rather than guess
        return "(event): Invalid JSON"
    if not isinstance(repeat, _Repeat):
        return None
    if not repeat.inside and repeat.key in _KNOWN_NAMES:
        where = f"'{repeat.key}'"
    elif repeat.inside == ("traits",):
        where = "in 'traits'"  # a trait's name is the customer's: not repeated
    else:
        where = "in an extra field"
    return f"(event): duplicate key {where}: each key may appear once"


class _Repeat(NamedTuple):
    """A key repeated in an object, and the keys of the objects around it (outermost first)."""

    key: str
    inside: tuple[str, ...]


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> _Repeat | None:
    """The hook of each JSON object, innermost first: what it returns becomes the
    object's value in the one around it, so a repeat found inside travels outward and
    learns where it was; a clean object is None (only keys matter here)."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return _Repeat(key, ())
        seen.add(key)
    for key, value in pairs:
        inner = _repeat_in(value)
        if inner is not None:
            return _Repeat(inner.key, (key, *inner.inside))
    return None


def _repeat_in(value: Any) -> _Repeat | None:
    if isinstance(value, _Repeat):
        return value
    if isinstance(value, list):  # arrays have no hook: look through them
        for item in value:
            found = _repeat_in(item)
            if found is not None:
                return found
    return None


# Built once (json.loads builds one per call). Numbers stay text: only keys matter
# here, and int() would refuse a 5,000-digit number that jiter accepted.
_PAIRS_DECODER = json.JSONDecoder(
    object_pairs_hook=_refuse_repeated_keys, parse_int=str, parse_float=str
)


def _message(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _SCHEMA_ONLY_MESSAGES:
        return error["msg"]
    if kind == "union_tag_invalid":
        expected = ", ".join(f"'{name}'" for name in EVENT_TYPES)
        return f"'type' does not match any of the expected tags: {expected}"
    if kind == "string_pattern_mismatch":
        return _PATTERN_MESSAGES.get(str(ctx.get("pattern")), "should match the contract's pattern")
    if kind == "json_invalid":
        return "Invalid JSON" + _detail(ctx)
    if kind in ("datetime_parsing", "datetime_from_date_parsing"):
        return "Input should be a valid datetime" + _detail(ctx)
    return f"Input is not valid ({kind})"


def _detail(ctx: Mapping[str, Any]) -> str:
    text = str(ctx.get("error", ""))
    return f": {text}" if _FIXED_TEXT.fullmatch(text) else ""


def _path(loc: tuple[int | str, ...]) -> str:
    # The discriminator adds the event type as the first element; keep it, it tells
    # the producer which schema was applied. A key the contract does not name
    # would come from the input, so it is not repeated.
    parts = [part if isinstance(part, int) or part in _KNOWN_NAMES else "<key>" for part in loc]
    return ".".join(str(part) for part in parts) or "(event)"


def _bounded(reason: str) -> str:
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 3] + "..."


_KNOWN_NAMES = frozenset(EVENT_TYPES).union(
    *(model.model_fields for model in (
        SubscriptionEvent, UsageEvent, FeatureGateEvent, MilestoneEvent, ScoreEvent,
        TicketEvent, ChurnSignalEvent, OfferResponseEvent, AccountEvent,
    ))
)
