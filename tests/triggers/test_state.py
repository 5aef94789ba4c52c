"""The encoded account state: what the changelog keeps must load in later engines."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from triggers.exceptions import StateFormatError
from triggers.offers import offer_id_for
from triggers.state import STATE_FORMAT, AccountState, OfferRecord, encode_state

# Written by the engine before states named their format (version 1): an account
# on Basic with gauges, a counter, three offers (shown, sent, declined), a
# silence, an open and a resolved ticket, and a low-score silence.
GOLDEN_V1 = Path(__file__).parent / "golden" / "account-state-v1.json"


def golden() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(GOLDEN_V1.read_bytes())
    return data


# Fields an offer record gained with its lifecycle (triggers/lifecycle.py), as their
# defaults are written: an older record has no expiry, is not held out, was never
# seen shown or converted by the engine's clock.
OFFER_FIELDS_ADDED = {"expires_at": None, "held_out": False, "shown_at": None,
                      "converted_at": None}


def with_offer_fields_added(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "offers": [{**row, **OFFER_FIELDS_ADDED} for row in data["offers"]]}


def test_a_version_1_state_loads_with_every_field() -> None:
    assert "v" not in golden()
    state = AccountState.from_dict(golden())
    assert (state.account_id, state.plan, state.addons) == ("acme", "basic", ())
    assert state.plan_at == 1772355600.0 and state.signed_up_at == 1740906000.0
    assert state.gauges == {"seats": (5.0, 1772960400.0)}
    assert state.counters == {"api_calls": (850.0, 1772409600.0, 1775088000.0)}
    assert state.fired_levels == {"calls-80": 0}
    assert state.last_fired == {"seats-80": 1772442000.0, "calls-80": 1772485200.0,
                                "done": 1772528400.0}
    assert state.offer_times == [1772442000.0, 1772485200.0, 1772528400.0]
    assert [(r.trigger_id, r.kind, r.target, r.status) for r in state.offers] == [
        ("seats-80", "upsell", "plan:pro", "shown"),
        ("calls-80", "upsell", "plan:pro", "sent"),
        ("done", "cross_sell", "addon:reports", "declined"),
    ]
    assert state.offers[0] == OfferRecord(
        "f50b4e36881eb212d2da52f20e4e6d29", "seats-80", "upsell", "plan:pro", 1772442000.0, "shown"
    )
    assert state.silenced == {"addon:reports": 1775206800.0}
    assert state.tickets == {"T-1": (True, "high", 1772614800.0), "T-2": (False, "low", 1772787600.0)}
    assert state.low_score_until == 1775466000.0
    assert len(state.seen) == 11 * 16  # eleven events applied


def test_a_version_1_state_is_written_back_the_same_and_names_its_format() -> None:
    written = orjson.loads(encode_state(AccountState.from_dict(golden())))
    added_since = {key: value for key, value in orjson.loads(encode_state(AccountState("x"))).items()
                   if key not in golden()}  # fields with defaults added after version 1
    # ... except the two a state of before time is dated with, from what it holds.
    dated = {"seen_at": 1772960400.0, "last_usage_at": 1772960400.0}  # its seats reading
    assert {key: written[key] for key in dated} == dated
    assert written == {**with_offer_fields_added(golden()), "v": STATE_FORMAT, **added_since,
                       **dated}
    assert AccountState.from_dict(written) == AccountState.from_dict(golden())


@pytest.mark.parametrize("missing", [key for key in golden() if key != "account_id"])
def test_a_record_missing_a_field_loads_with_its_default(missing: str) -> None:
    data = {key: value for key, value in golden().items() if key != missing}
    state = AccountState.from_dict(data)
    default = orjson.loads(encode_state(AccountState("acme")))
    assert orjson.loads(encode_state(state))[missing] == default[missing]


def test_an_offer_record_missing_its_status_is_sent() -> None:
    data = golden()
    del data["offers"][1]["status"]
    assert AccountState.from_dict(data).offers[1].status == "sent"


def test_keys_it_does_not_know_are_ignored() -> None:
    data = {**golden(), "v": STATE_FORMAT, "renewal_due": 1780000000.0, "segment": {"industry": "x"}}
    data["offers"][0]["channel"] = "in_app"
    assert AccountState.from_dict(data) == AccountState.from_dict(golden())


def test_a_newer_format_is_refused_rather_than_misread() -> None:
    with pytest.raises(StateFormatError, match="newer"):
        AccountState.from_dict({**golden(), "v": STATE_FORMAT + 1})


def test_a_record_without_an_account_or_an_offer_id_is_refused() -> None:
    with pytest.raises(StateFormatError, match="account_id"):
        AccountState.from_dict({k: v for k, v in golden().items() if k != "account_id"})
    data = golden()
    del data["offers"][0]["offer_id"]
    with pytest.raises(StateFormatError, match="offer_id"):
        AccountState.from_dict(data)


GOLDEN_TIME = Path(__file__).parent / "golden" / "account-state-v1-time.json"


def test_a_state_with_due_times_samples_and_attributes_loads_and_is_written_back_the_same() -> None:
    """Written by this engine from the example rules (a payroll account, a tenure
    offer held by the cap, a quiet spell offered by the sweep, a renewal due)."""
    golden_time = orjson.loads(GOLDEN_TIME.read_bytes())
    state = AccountState.from_dict(golden_time)
    assert state.timers == {"renewal-60": 1784538000.0}  # 60 days before renews_at
    assert state.renews_at == 1784538000.0 + 60 * 86_400
    assert state.fired_windows == {"quiet-21-days": 1774947600.0,
                                   "tenure-3-6-months": 1769850000.0}
    assert state.samples["seats"][0] == (20515, 3.0) and len(state.samples["seats"]) == 8
    assert state.attributes == {"contract_term": "annual", "country": "DE", "crm_tier": "gold",
                                "employees": 12, "industry": "payroll"}
    assert state.plan_since == 1762074000.0 and state.last_usage_at == 1773133200.0
    assert [r.trigger_id for r in state.offers] == [
        "payroll-accounting", "tenure-3-6-months", "quiet-21-days"
    ]
    assert orjson.loads(encode_state(state)) == {**with_offer_fields_added(golden_time),
                                                 "v": STATE_FORMAT, "next_expiry": None}


def test_a_timed_offer_id_is_pinned() -> None:
    """The id of a timed offer comes from (account, trigger, 'due:<RFC 3339>'):
    a change would re-send every timed offer under a new id."""
    assert offer_id_for("acme", "quiet-21-days", "due:2026-03-31T09:00:00Z") == (
        "7076987d459efa0c4a2c9dd5d83276da"
    )


def test_a_state_of_before_time_makes_no_timed_offer_dated_before_its_known_events() -> None:
    """Upgrading an engine: accounts restored from a changelog written before the
    time fields existed must not get offers for windows long gone."""
    from schemas.events import decode_event
    from tests.factories import event_json, example_book
    from triggers.table import AccountTable

    state = AccountState.from_dict({**golden(), "signed_up_at": 1704067200.0,  # 2024-01-01
                                    "tickets": {}, "low_score_until": None})  # nothing holds
    table = AccountTable(example_book())
    table.accounts[state.account_id] = state
    table.reschedule()
    results = table.apply(decode_event(event_json("usage", state.account_id, 10, "after-upgrade",
                                                  metric="api_calls", delta=1)))
    made = [offer for result in results for offer in result.offers]
    assert all(offer.created_at.timestamp() >= 1772960400.0 for offer in made)
    assert "tenure-3-6-months" not in {offer.trigger_id for offer in made}


def test_the_id_and_cause_of_a_timed_offer_made_by_a_wake_are_pinned() -> None:
    """The quiet-spell offer of the golden account above, made again by the sweep:
    its id and cause must never change for the same decision."""
    from datetime import timedelta

    from schemas.events import decode_event
    from tests.factories import T0, event_json, example_book
    from triggers.table import AccountTable

    table = AccountTable(example_book())
    table.apply(decode_event(event_json(
        "subscription", "acme", 0, "e1", plan="basic",
        started_at=(T0 - timedelta(days=120)).isoformat(),
        renews_at=(T0 + timedelta(days=200)).isoformat())))
    table.apply(decode_event(event_json("usage", "acme", 8, "u8", metric="seats", value=7)))
    # acme is in the example rules' control group: the decision is made, not sent.
    [offer] = [o for r in table.advance((T0 + timedelta(days=40)).timestamp())
               for o in r.outcomes if o.status == "held_out"]
    assert (offer.trigger_id, offer.caused_by, offer.offer_id) == (
        "quiet-21-days", "due:2026-03-31T09:00:00Z", "7076987d459efa0c4a2c9dd5d83276da"
    )


GOLDEN_OUTCOMES = Path(__file__).parent / "golden" / "account-state-v1-outcomes.json"


def test_a_state_with_offer_lifecycles_loads_and_is_written_back_the_same() -> None:
    """Written by this engine (tests/factories rules): an offer shown then converted
    by an upgrade to Pro, and a cross-sell that expired unanswered."""
    data = orjson.loads(GOLDEN_OUTCOMES.read_bytes())
    state = AccountState.from_dict(data)
    converted, expired = state.offers
    assert (converted.trigger_id, converted.status) == ("seats-80", "converted")
    assert converted.shown_at is not None and converted.converted_at is not None
    assert (expired.trigger_id, expired.status, expired.held_out) == ("done", "expired", False)
    assert expired.expires_at == expired.created_at + 7 * 86_400
    assert state.next_expiry == float("inf")  # nothing open
    assert orjson.loads(encode_state(state)) == data
