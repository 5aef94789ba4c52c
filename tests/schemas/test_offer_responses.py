"""A posted offer response becomes one offer_response event with a derived id."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from schemas.events import InvalidEvent, decode_event
from schemas.offer_responses import offer_response_event, offer_response_event_id

OFFER = "4449f5c226e3119bc611e69e12199389"
NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def body(**fields: object) -> bytes:
    return orjson.dumps({"account_id": "acme", "response": "declined", **fields})


def test_event_ids_are_golden() -> None:
    # A contract: ids already in changelogs and on topics must keep meaning the same response.
    assert (offer_response_event_id(OFFER, "declined", datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
            == "resp1-a0ffdd688fe33028b3d2eb1805eef3e4")
    assert (offer_response_event_id(OFFER, "shown", datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC))
            == "resp1-095269f7a8f93c51e5981a2bf05a3d9b")


def test_event_id_is_the_documented_hash() -> None:
    key = f"{OFFER}\x1fdeclined\x1f2026-03-02T09:00:00+00:00".encode()
    expected = "resp1-" + hashlib.blake2b(key, digest_size=16).hexdigest()
    assert offer_response_event_id(OFFER, "declined", datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) == expected


def test_one_instant_in_two_spellings_is_one_event() -> None:
    first, _ = offer_response_event(OFFER, body(occurred_at="2026-03-02T10:00:00+01:00"), NOW)
    second, _ = offer_response_event(OFFER, body(occurred_at="2026-03-02T09:00:00Z"), NOW)
    assert first.event_id == second.event_id


def test_the_event_is_one_the_engine_decodes_with_the_id_in_its_json() -> None:
    event, raw = offer_response_event(OFFER, body(occurred_at="2026-03-02T09:00:00Z"), NOW)
    decoded = decode_event(raw)
    assert decoded == event
    assert decoded.type == "offer_response"
    assert (decoded.offer_id, decoded.response, decoded.account_id) == (OFFER, "declined", "acme")
    assert decoded.event_id == "resp1-a0ffdd688fe33028b3d2eb1805eef3e4"


def test_without_a_time_the_server_time_to_the_second_is_used() -> None:
    event, _ = offer_response_event(OFFER, body(), NOW)
    assert event.occurred_at == NOW.replace(microsecond=0)
    later_same_second, _ = offer_response_event(OFFER, body(), NOW.replace(microsecond=999_999))
    assert later_same_second.event_id == event.event_id


def test_different_responses_or_times_are_different_events() -> None:
    at = "2026-03-02T09:00:00Z"
    ids = {offer_response_event(OFFER, body(response=r, occurred_at=at), NOW)[0].event_id
           for r in ("shown", "accepted", "dismissed", "declined")}
    ids.add(offer_response_event(OFFER, body(occurred_at="2026-03-02T09:00:01Z"), NOW)[0].event_id)
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("offer_id", "raw", "expected"),
    [
        (OFFER, b'{"response": "declined"}', "offer_response.account_id: Field required"),
        (OFFER, body(response="maybe-later"), "offer_response.response: Input should be 'shown', "
                                              "'accepted', 'dismissed' or 'declined'"),
        (OFFER, body(occurred_at="2026-03-02"), "offer_response.occurred_at: should be an RFC 3339"),
        (OFFER, body(account_id=42), "offer_response.account_id: Input should be a valid string"),
        (OFFER, body(occured_at="2026-03-02T09:00:00Z"), "(body): unknown field"),  # a typo
        (OFFER, b'{"account_id": "a", "account_id": "b", "response": "shown"}',
         "(body): duplicate key 'account_id'"),
        (OFFER, b"not json", "(body): Invalid JSON"),
        (OFFER, b'["acme", "declined"]', "(body): should be a JSON object"),
        ("offer\u200bid", body(), "offer_response.offer_id: should be printable text"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(offer_id: str, raw: bytes, expected: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        offer_response_event(offer_id, raw, NOW)
    assert caught.value.reason.startswith(expected)


def test_a_refusal_never_repeats_the_input() -> None:
    with pytest.raises(InvalidEvent) as caught:
        offer_response_event(OFFER, body(account_id="secret\n", response="secret-response"), NOW)
    assert "secret" not in caught.value.reason
