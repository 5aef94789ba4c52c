"""Properties of replays: the offers depend on each account's own events, never
on how the accounts' streams are interleaved (as partitions and consumers will
interleave them), nor on a checkpoint and restore of the states in between,
timed offers (renewal, tenure, inactivity) included.

The caveat of timed offers: a partition has one clock, the latest event time
it has seen, and a timer fires when that clock passes its due time. An event
that arrives behind the clock (account A's event of day 50 after account B's
of day 100) is decided after A's timers of days 50 to 100 fired, where in a
time-ordered log it came before them: the ticket it opens no longer holds back
the tenure offer of day 60 (see the last test). So the interleavings that give
the same offers are those a time-ordered log allows, each account's events in
their order and accounts at the same moment in any order; or any interleaving
at all when each account has a clock of its own (a partition each). Each
account's own stream is generated in time order.
"""

from typing import Any

import orjson
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import decode_event
from schemas.rules_file import parse_rules
from tests.factories import EXAMPLE_RULES, T0, book, event_json
from tests.triggers.timed import Partition, fired_at, iso, moment
from triggers import AccountState, Evaluation, RuleBook
from triggers.offers import offer_id_for
from triggers.state import encode_state
from triggers.table import AccountTable

# Timed triggers beside the example's, with windows inside the 90 days the streams
# cover; the example's guards (cap, cooldown, grace, tickets, low scores, silences)
# hold them back and delay them.
TIMED_TRIGGERS = [
    {"id": "prop-renewal", "kind": "before_renewal", "days": [60, 30], "priority": 20,
     "offer": {"kind": "upsell", "recommend": "next_tier"}},
    {"id": "prop-tenure", "kind": "tenure", "from_days": 20, "to_days": 60, "priority": 10,
     "offer": {"kind": "cross_sell", "recommend": "addon:portfolio_reports"}},
    {"id": "prop-plan-tenure", "kind": "tenure", "from_days": 10, "to_days": 30,
     "since": "plan_change", "offer": {"kind": "cross_sell", "recommend": "addon:onboarding_workshop"}},
    {"id": "prop-quiet", "kind": "inactivity", "days": 14, "priority": 95,
     "ignore_guards": ["account_cap"], "offer": {"kind": "down_sell", "recommend": "previous_tier"}},
]


def example_with(triggers: list[dict[str, Any]]) -> RuleBook:
    rules = yaml.safe_load(EXAMPLE_RULES.read_text())
    rules["triggers"] = rules["triggers"] + triggers
    return RuleBook.compile(parse_rules(yaml.safe_dump(rules), "example-with-timed.yaml"))


BOOK = example_with(TIMED_TRIGGERS)
TRIGGER_IDS = [t.id for t in BOOK.rules.triggers]
END = 200  # the day every clock is moved to at the end of a run

# Half days: events of different accounts, and timers, often fall on the same moment.
days = st.integers(0, 180).map(lambda half_days: half_days / 2)
renewal_days = st.integers(-10, 150)
payloads = st.one_of(
    st.builds(lambda v: {"type": "usage", "metric": "seats", "value": v},
              st.integers(0, 60)),
    st.builds(lambda v: {"type": "usage", "metric": "storage_gb", "value": v},
              st.floats(0, 600).map(lambda x: round(x, 1))),
    st.builds(lambda v: {"type": "usage", "metric": "api_calls", "delta": v},
              st.integers(0, 8000)),
    st.builds(lambda p, signup, renews: {"type": "subscription", "plan": p,
                                         "started_at": iso(signup),
                                         **({"renews_at": iso(renews)} if renews is not None else {})},
              st.sampled_from(["basic", "pro", "enterprise"]), st.integers(-60, 0),
              st.none() | renewal_days),
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
    """1 to 4 accounts, each with its own stream in time order."""
    streams = []
    for index in range(draw(st.integers(1, 4))):
        account = f"acct-{index}"
        plan = draw(st.sampled_from(["basic", "basic", "pro"]))
        start = {"plan": plan, "started_at": iso(draw(st.integers(-60, 0)))}
        renews = draw(st.none() | renewal_days)
        if renews is not None:
            start["renews_at"] = iso(renews)
        lines = [event_json("subscription", account, 0, f"{account}-start", **start)]
        events = sorted(draw(st.lists(st.tuples(days, payloads), max_size=30)),
                        key=lambda event: event[0])
        for n, (day, payload) in enumerate(events):
            payload = dict(payload)
            answer = payload.pop("_answer", None)
            if answer is not None:  # a response to an offer an earlier event may have made
                payload["offer_id"] = offer_id_for(account, answer[0], f"{account}-{answer[1]}")
            event_id = f"{account}-{n if draw(st.integers(0, 9)) else max(n - 1, 0)}"
            fields = {k: v for k, v in payload.items() if k != "type"}
            lines.append(event_json(payload["type"], account, day, event_id, **fields))
        streams.append(lines)
    return streams


def interleaved(streams: list[list[bytes]], order: list[int]) -> list[bytes]:
    """The streams interleaved in `order` (a list of stream indexes), each in its order."""
    queues = [list(reversed(stream)) for stream in streams]
    return [queues[index].pop() for index in order]


def time_ordered(lines: list[bytes]) -> list[bytes]:
    """`lines` in event time order; a stable sort, so events at the same moment keep
    the order they had (accounts in the order `lines` interleaved them)."""
    return sorted(lines, key=lambda line: decode_event(line).occurred_at)


def account_index(account_id: str, partitions: int) -> int:
    return int(account_id.rsplit("-", 1)[1]) % partitions


def run(lines: list[bytes], partitions: int = 1, rules: RuleBook = BOOK) -> list[str]:
    table = AccountTable(rules, partitions, account_index if partitions > 1 else None)
    offers = []
    for line in lines:
        for result in table.apply(decode_event(line)):
            offers += [offer.model_dump_json() for offer in result.offers]
    for result in table.advance(moment(END).timestamp()):
        offers += [offer.model_dump_json() for offer in result.offers]
    return sorted(offers)


def orders(streams: list[list[bytes]]) -> st.SearchStrategy[list[int]]:
    return st.permutations([index for index, stream in enumerate(streams) for _ in stream])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=account_streams(), data=st.data())
def test_any_interleaving_of_accounts_in_time_order_gives_the_same_offers(
    streams: list[list[bytes]], data: st.DataObject
) -> None:
    """One partition, one clock: any time-ordered log of the accounts' streams (accounts
    at the same moment in any order) gives the same offers, timed ones included."""
    one_after_another = time_ordered([line for stream in streams for line in stream])
    shuffled = time_ordered(interleaved(streams, data.draw(orders(streams))))
    assert run(shuffled) == run(one_after_another)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=account_streams(), data=st.data())
def test_any_interleaving_at_all_gives_the_same_offers_when_each_account_has_its_own_clock(
    streams: list[list[bytes]], data: st.DataObject
) -> None:
    """A partition per account: no account's clock is moved by another's events, so
    no interleaving can put an account's event behind its clock."""
    apart = len(streams)
    shuffled = interleaved(streams, data.draw(orders(streams)))
    in_time = time_ordered([line for stream in streams for line in stream])
    assert run(shuffled, partitions=apart) == run(in_time)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=account_streams(), partitions=st.integers(2, 4), data=st.data())
def test_several_partitions_give_the_offers_of_one_when_the_log_is_in_time_order(
    streams: list[list[bytes]], partitions: int, data: st.DataObject
) -> None:
    """Each partition has its own clock, advanced by its own events only; with every
    clock moved to the same end, the offers are those of one partition."""
    lines = time_ordered(interleaved(streams, data.draw(orders(streams))))
    assert run(lines, partitions=partitions) == run(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=account_streams(), data=st.data())
def test_sweeps_between_events_change_no_offer(
    streams: list[list[bytes]], data: st.DataObject
) -> None:
    """The live engine also sweeps when no record arrives: a clock moved between two
    events, to any moment up to the next one, fires what the next event would have."""
    lines = time_ordered(interleaved(streams, data.draw(orders(streams))))
    table = AccountTable(BOOK)
    offers = []
    previous = T0.timestamp()
    for line in lines:
        event = decode_event(line)
        at = event.occurred_at.timestamp()
        for fraction in data.draw(st.lists(st.floats(0, 1), max_size=3), label="sweeps"):
            for result in table.advance(previous + fraction * (at - previous)):
                offers += [offer.model_dump_json() for offer in result.offers]
        previous = max(previous, at)
        for result in table.apply(event):
            offers += [offer.model_dump_json() for offer in result.offers]
    for result in table.advance(moment(END).timestamp()):
        offers += [offer.model_dump_json() for offer in result.offers]
    assert sorted(offers) == run(lines)


def test_the_properties_would_catch_shared_state_between_accounts() -> None:
    """Guard against vacuous properties: the streams do produce offers, timed ones too."""
    lines = [
        event_json("subscription", "a", 0, "a-0", plan="basic",
                   started_at="2025-01-01T00:00:00Z", renews_at=iso(100)),
        event_json("usage", "a", 1, "a-1", metric="seats", value=9),
    ]
    offers = [orjson.loads(offer) for offer in run(lines)]
    assert sorted(offer["trigger_id"] for offer in offers) == [
        "prop-renewal", "prop-renewal", "quiet-21-days", "seats-80"
    ]


def test_an_event_behind_the_partition_clock_is_decided_after_the_timers_it_passed() -> None:
    """The caveat in the module's docstring, pinned: one clock per partition."""
    rules = book(guards="suppress_while_ticket_open: [high]", triggers="""
triggers:
  - {id: tenure, kind: tenure, from_days: 60, to_days: 180,
     offer: {kind: upsell, recommend: next_tier}}
""")

    def offers(order: str) -> list[tuple[str, str]]:
        accounts = Partition(rules)
        made = []
        for name in order.split():
            if name == "a0":
                made += accounts.subscribe("a", day=0, signed_up_day=0)
            elif name == "a50":  # opens a ticket before a's tenure window
                made += accounts.send("ticket", "a", day=50, ticket_id="T1", status="opened",
                                      severity="high")
            else:
                made += accounts.subscribe("b", day=100, signed_up_day=100)
        made += accounts.advance(END)
        return [(o.account_id, trigger) for o, (trigger, _) in zip(made, fired_at(made), strict=True)]

    assert offers("a0 a50 b100") == [("b", "tenure")]  # a's ticket holds its tenure back
    # b's event moves the clock to day 100 first: a's tenure (day 60) fires before its ticket.
    assert offers("a0 b100 a50") == [("a", "tenure"), ("b", "tenure")]


@st.composite
def answered_streams(draw: Any, rules: RuleBook = BOOK) -> list[bytes]:
    """Accounts' streams in which customers answer many of the offers they get, so
    that offer statuses, silences and conversions are in the states too."""
    lines = [line for stream in draw(account_streams()) for line in stream]
    table = AccountTable(rules)
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=answered_streams(BOOK), partitions=st.integers(1, 3),
       data=st.data())
def test_a_restart_mid_stream_gives_the_same_later_offers(
    lines: list[bytes], partitions: int, data: st.DataObject
) -> None:
    """What a restart does: new tables from the encoded states, the due times indexed
    again (`reschedule`), the clocks set from the states; the log in time order."""
    events = [decode_event(line) for line in time_ordered(lines)]
    cut = data.draw(st.integers(0, len(events)), label="cut")
    partition_of = account_index if partitions > 1 else None

    def table() -> AccountTable:
        return AccountTable(BOOK, partitions, partition_of)

    def offers(results: list[Evaluation]) -> list[str]:
        return [offer.model_dump_json() for result in results for offer in result.offers]

    straight, before = table(), table()
    expected = offers([r for event in events for r in straight.apply(event)])
    got = offers([r for event in events[:cut] for r in before.apply(event)])
    after = table()
    after.accounts.update(
        (k, AccountState.from_dict(orjson.loads(encode_state(v)))) for k, v in before.accounts.items()
    )
    after.reschedule()
    got += offers([r for event in events[cut:] for r in after.apply(event)])
    end = moment(END).timestamp()
    assert got + offers(after.advance(end)) == expected + offers(straight.advance(end))
