"""Properties of replays: the offers depend on each account's own events, never
on how the accounts' streams are interleaved (as partitions and consumers will
interleave them), nor on a checkpoint and restore of the states in between."""

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import decode_event
from tests.factories import T0, event_json, example_book
from triggers import AccountState, Evaluation
from triggers.offers import offer_id_for
from triggers.state import encode_state
from triggers.table import AccountTable

BOOK = example_book()
TRIGGER_IDS = [t.id for t in BOOK.rules.triggers]

days = st.floats(min_value=0, max_value=90, allow_nan=False).map(lambda d: round(d, 2))
payloads = st.one_of(
    st.builds(lambda v: {"type": "usage", "metric": "seats", "value": v},
              st.integers(0, 60)),
    st.builds(lambda v: {"type": "usage", "metric": "storage_gb", "value": v},
              st.floats(0, 600).map(lambda x: round(x, 1))),
    st.builds(lambda v: {"type": "usage", "metric": "api_calls", "delta": v},
              st.integers(0, 8000)),
    st.builds(lambda p, grace: {"type": "subscription", "plan": p,
                                "started_at": f"2026-{grace:02d}-01T00:00:00Z"},
              st.sampled_from(["basic", "pro", "enterprise"]), st.integers(1, 4)),
    st.just({"type": "feature_gate", "feature": "advanced_analytics"}),
    st.just({"type": "milestone", "name": "project_completed"}),
    st.builds(lambda s: {"type": "nps", "score": s}, st.integers(0, 10)),
    st.builds(lambda status, sev: {"type": "ticket", "ticket_id": "T1", "status": status,
                                   "severity": sev},
              st.sampled_from(["opened", "resolved"]), st.sampled_from(["low", "high"])),
    st.just({"type": "churn_signal", "name": "cancellation_started"}),
    st.builds(lambda trigger, n, r: {"type": "offer_response", "response": r,
                                     "_answer": (trigger, n)},
              st.sampled_from(TRIGGER_IDS), st.integers(0, 30),
              st.sampled_from(["shown", "accepted", "declined", "dismissed"])),
)


@st.composite
def account_streams(draw: Any) -> list[list[bytes]]:
    streams = []
    for index in range(draw(st.integers(1, 4))):
        account = f"acct-{index}"
        plan = draw(st.sampled_from(["basic", "basic", "pro"]))
        lines = [event_json("subscription", account, 0, f"{account}-start", plan=plan,
                            started_at="2025-06-01T00:00:00Z")]
        for n, (day, payload) in enumerate(draw(st.lists(st.tuples(days, payloads),
                                                         max_size=30))):
            payload = dict(payload)
            answer = payload.pop("_answer", None)
            if answer is not None:  # a response to an offer an earlier event may have made
                payload["offer_id"] = offer_id_for(account, answer[0], f"{account}-{answer[1]}")
            event_id = f"{account}-{n if draw(st.integers(0, 9)) else max(n - 1, 0)}"
            fields = {k: v for k, v in payload.items() if k != "type"}
            lines.append(event_json(payload["type"], account, day, event_id, **fields))
        streams.append(lines)
    return streams


def run(lines: list[bytes]) -> list[str]:
    table = AccountTable(BOOK)
    offers = []
    for line in lines:
        for result in table.apply(decode_event(line)):
            offers += [offer.model_dump_json() for offer in result.offers]
    return sorted(offers)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=account_streams(), data=st.data())
def test_any_interleaving_of_accounts_gives_the_same_offers(
    streams: list[list[bytes]], data: st.DataObject
) -> None:
    one_after_another = [line for stream in streams for line in stream]
    order = data.draw(st.permutations(
        [index for index, stream in enumerate(streams) for _ in stream]
    ))
    queues = [list(reversed(stream)) for stream in streams]
    interleaved = [queues[index].pop() for index in order]
    assert run(interleaved) == run(one_after_another)


def test_the_property_would_catch_shared_state_between_accounts() -> None:
    """Guard against a vacuous property: the streams do produce offers."""
    lines = [
        event_json("subscription", "a", 0, "a-0", plan="basic",
                   started_at="2025-01-01T00:00:00Z"),
        event_json("usage", "a", 1, "a-1", metric="seats", value=9),
    ]
    assert len(run(lines)) == 1


@st.composite
def answered_streams(draw: Any) -> list[bytes]:
    """Accounts' streams in which customers answer many of the offers they get, so
    that offer statuses, silences and conversions are in the states too."""
    lines = [line for stream in draw(account_streams()) for line in stream]
    table = AccountTable(BOOK)
    answered = []
    for line in lines:
        answered.append(line)
        for offer in (o for result in table.apply(decode_event(line)) for o in result.offers):
            if draw(st.booleans()):
                day = (offer.created_at - T0).total_seconds() / 86_400 + 0.01
                response = draw(st.sampled_from(["shown", "accepted", "declined", "dismissed"]))
                answered.append(event_json("offer_response", offer.account_id, day,
                                           f"answer-{offer.offer_id}", offer_id=offer.offer_id,
                                           response=response))
    return answered


def restored(table: AccountTable) -> None:
    """Every state through what a checkpoint and a restore do to it."""
    for account_id, state in table.accounts.items():
        table.accounts[account_id] = AccountState.from_dict(orjson.loads(encode_state(state)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=answered_streams(), data=st.data())
def test_a_state_round_trip_mid_stream_changes_no_later_decision(
    lines: list[bytes], data: st.DataObject
) -> None:
    events = [decode_event(line) for line in lines]
    cut = data.draw(st.integers(0, len(events)), label="cut")
    straight, checkpointed = AccountTable(BOOK), AccountTable(BOOK)
    expected: list[Evaluation] = [r for event in events for r in straight.apply(event)]
    got = [r for event in events[:cut] for r in checkpointed.apply(event)]
    restored(checkpointed)
    got += [r for event in events[cut:] for r in checkpointed.apply(event)]
    assert got == expected
    assert {k: encode_state(v) for k, v in checkpointed.accounts.items()} == {
        k: encode_state(v) for k, v in straight.accounts.items()
    }
