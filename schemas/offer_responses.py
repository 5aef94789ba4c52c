"""What in-app messaging posts to `POST /v1/offers/{offer_id}/response`, and the
`offer_response` event it becomes.

The event id is derived, not invented: the same offer, response and time always
give the same id, so a retried request is dropped by the engine's event-id
dedupe instead of counting twice, and the in-app side never makes up ids. The
derivation is a contract (other clients may compute it too): change it only
with a new prefix, and keep the golden ids in tests/schemas/test_offer_responses.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

from schemas.events import InvalidEvent, OfferResponseEvent, decode_event, duplicate_key_reason

#: The fields a response body may have; `occurred_at` is optional.
RESPONSE_FIELDS = ("account_id", "response", "occurred_at")
#: Names the version of the derivation below.
EVENT_ID_PREFIX = "resp1-"


def offer_response_event_id(offer_id: str, response: str, occurred_at: datetime) -> str:
    """`resp1-` and 32 hex digits of BLAKE2b over the offer id, the response and
    the moment (UTC, ISO 8601, microseconds when not zero), separated by U+001F.
    Two spellings of one instant ("10:00:00+01:00", "09:00:00Z") give one id."""
    moment = occurred_at.astimezone(UTC).isoformat()
    key = f"{offer_id}\x1f{response}\x1f{moment}".encode()
    return EVENT_ID_PREFIX + hashlib.blake2b(key, digest_size=16).hexdigest()


def offer_response_event(offer_id: str, body: bytes, now: datetime) -> tuple[OfferResponseEvent, bytes]:
    """The event a posted response becomes, and its JSON (what goes to Kafka).

    Without `occurred_at` the moment is `now` (to the second): a retry within the
    same second is still one event; send `occurred_at` to make every retry one.
    Raises InvalidEvent with the engine's kind of reason (fields, never values).
    """
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidEvent("(body): Invalid JSON") from None
    if not isinstance(fields, dict):
        raise InvalidEvent("(body): should be a JSON object")
    repeated = duplicate_key_reason(body)
    if repeated is not None:
        raise InvalidEvent(repeated.replace("(event)", "(body)", 1))
    if not set(fields) <= set(RESPONSE_FIELDS):
        # Typos matter here: a misspelt occurred_at would silently become the server's time.
        raise InvalidEvent("(body): unknown field; expected only account_id, response "
                           "and occurred_at")
    fields.setdefault("occurred_at", now.astimezone(UTC).replace(microsecond=0).isoformat())
    fields.update(type="offer_response", offer_id=offer_id, event_id="pending")
    event = decode_event(orjson.dumps(fields))
    assert isinstance(event, OfferResponseEvent)  # the type is ours
    fields["event_id"] = offer_response_event_id(offer_id, event.response, event.occurred_at)
    return event.model_copy(update={"event_id": fields["event_id"]}), orjson.dumps(fields)
