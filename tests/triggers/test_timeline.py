"""Timeline: events and due timers of one partition interleaved as its clock
moves; the sweep touches only the accounts that are due; what a restore does."""

from collections.abc import Callable

import orjson
import pytest

from schemas.events import decode_event
from tests.factories import book, event_json
from tests.triggers.timed import Partition, fired_at, iso, moment, offers_of
from triggers import Evaluation, RuleBook
from triggers.state import AccountState, encode_state
from triggers.table import AccountTable
from triggers.timeline import RETRY_AFTER, Timeline
from triggers.timers import wake

TIMED = """
triggers:
  - {id: renewal, kind: before_renewal, days: [60, 30], priority: 5,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: tenure, kind: tenure, from_days: 90, to_days: 180,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
  - {id: quiet, kind: inactivity, days: 21,
     offer: {kind: upsell, recommend: "plan:enterprise"}}
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}, priority: 50}
"""
RENEWAL_ONLY = TIMED.split("  - {id: tenure")[0]
RENEWAL_AND_TENURE = TIMED.split("  - {id: quiet")[0]
GUARDS = "suppress_while_ticket_open: [high]\naccount_cap: {max_offers: 1, per_days: 7}"


def rules(guards: str = GUARDS) -> RuleBook:
    return book(guards=guards, triggers=TIMED)


class CountedWakes:
    """Wraps the timeline's wake to count which accounts it visits."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.accounts: list[str] = []

        def counted(state: AccountState, now: float, rules: RuleBook,
                    drop_expired: bool = False) -> Evaluation:
            self.accounts.append(state.account_id)
            return wake(state, now, rules, drop_expired)

        monkeypatch.setattr("triggers.timeline.wake", counted)


def test_the_sweep_visits_only_the_accounts_that_are_due(monkeypatch: pytest.MonkeyPatch) -> None:
    table = AccountTable(book(triggers=RENEWAL_ONLY))
    for n in range(1000):
        renews = 100 if n % 100 == 0 else 500  # 10 accounts in 1000 renew soon
        line = event_json("subscription", f"acct-{n}", 0, f"s{n}", plan="basic",
                          started_at=iso(-10), renews_at=iso(renews))
        table.apply(decode_event(line))
    table.apply(decode_event(event_json("usage", "acct-1", 1, "u", metric="seats", value=1)))
    wakes = CountedWakes(monkeypatch)
    offers = offers_of(table.advance(moment(40).timestamp()))
    assert sorted(wakes.accounts) == sorted(f"acct-{n}" for n in range(0, 1000, 100))
    assert len(offers) == 10
    wakes.accounts.clear()
    table.advance(moment(40.5).timestamp())
    table.apply(decode_event(event_json("usage", "acct-3", 41, "u2", metric="seats", value=1)))
    assert wakes.accounts == []


def test_an_active_account_is_never_woken_for_its_quiet_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = Partition(book(triggers="triggers:\n" + TIMED[TIMED.index("  - {id: quiet"):]))
    wakes = CountedWakes(monkeypatch)
    accounts.subscribe("a", day=0, plan="pro", signed_up_day=-1)
    made = []
    for day in range(1, 60):
        made += accounts.seats(1, "a", day=day)  # a reading a day: never quiet for 21 days
    # Each reading moves the count to itself + 21 days: no wake in 59 readings.
    assert wakes.accounts == []
    assert made == []
    assert accounts.state("a").timers == {"quiet": moment(80).timestamp()}


def test_a_state_round_trip_keeps_timers_and_fired_windows() -> None:
    accounts = Partition(rules())
    accounts.subscribe("a", day=0, renews_day=100, signed_up_day=-50)
    accounts.advance(45)
    state = accounts.state("a")
    assert state.fired_windows and state.timers
    restored = AccountState.from_dict(orjson.loads(encode_state(state)))
    assert restored.timers == state.timers
    assert restored.fired_windows == state.fired_windows
    assert (restored.renews_at, restored.plan_since, restored.seen_at) == (
        state.renews_at, state.plan_since, state.seen_at
    )


def lines_of(*events: tuple[str, str, float, dict[str, object]]) -> list[bytes]:
    return [event_json(type_, account, day, f"{account}-{n}", **fields)
            for n, (type_, account, day, fields) in enumerate(events)]


# Three accounts; the clock runs ahead of c's events (b's day 50 comes before c's
# day 20 and 30), so what is decided before and after the clock matters.
STREAM = lines_of(
    ("subscription", "a", 0, {"plan": "basic", "started_at": iso(-50), "renews_at": iso(100)}),
    ("usage", "a", 1, {"metric": "seats", "value": 3}),
    ("subscription", "b", 2, {"plan": "basic", "started_at": iso(-80), "renews_at": iso(200)}),
    ("usage", "b", 50, {"metric": "seats", "value": 9}),
    ("subscription", "c", 20, {"plan": "basic", "started_at": iso(-5), "renews_at": iso(100)}),
    ("ticket", "c", 30, {"ticket_id": "T1", "status": "opened", "severity": "high"}),
    ("usage", "a", 60, {"metric": "seats", "value": 8}),
    ("ticket", "c", 70, {"ticket_id": "T1", "status": "resolved", "severity": "high"}),
    ("usage", "b", 120, {"metric": "seats", "value": 2}),
)


def run_timeline(rules: RuleBook, lines: list[bytes], cut: int | None = None,
                 restore: Callable[[Timeline], Timeline] | None = None) -> list[str]:
    timeline = Timeline(rules)
    offers = []
    for n, line in enumerate(lines):
        if n == cut and restore is not None:
            timeline = restore(timeline)
        event = decode_event(line)
        results = [r for _, r in timeline.advance(event.occurred_at.timestamp())]
        results.append(timeline.apply(timeline.get(event.account_id), event))
        results += [r for _, r in timeline.sweep()]
        offers += [o.model_dump_json() for o in offers_of(results)]
    offers += [o.model_dump_json() for _, r in timeline.advance(moment(400).timestamp())
               for o in r.offers]
    return offers


def restored_timeline(timeline: Timeline) -> Timeline:
    """What a restart does: the states from their encoded form, a new timeline, reschedule."""
    accounts = {account_id: AccountState.from_dict(orjson.loads(encode_state(state)))
                for account_id, state in timeline.accounts.items()}
    fresh = Timeline(timeline.book, accounts)
    fresh.reschedule()
    return fresh


WITHOUT_INACTIVITY = book(guards=GUARDS, triggers=TIMED.replace(
    TIMED[TIMED.index("  - {id: quiet"):TIMED.index("  - {id: seats-80")], ""
))


@pytest.mark.parametrize("cut", range(len(STREAM) + 1))
def test_a_restore_and_reschedule_at_any_point_gives_the_same_later_offers(cut: int) -> None:
    straight = run_timeline(WITHOUT_INACTIVITY, STREAM)
    assert len(straight) >= 5  # the stream does make timed offers
    assert run_timeline(WITHOUT_INACTIVITY, STREAM, cut, restored_timeline) == straight


def test_a_restore_after_a_new_quiet_spell_began_gives_the_same_later_offers() -> None:
    straight = run_timeline(rules(), STREAM)
    assert run_timeline(rules(), STREAM, 5, restored_timeline) == straight


def test_reschedule_with_new_rules_indexes_every_account() -> None:
    old = Timeline(book(triggers=RENEWAL_ONLY))
    for n in range(3):
        line = event_json("subscription", f"acct-{n}", 0, f"s{n}", plan="basic",
                          started_at=iso(-80 - n))
        old.apply(old.get(f"acct-{n}"), decode_event(line))
    assert len(old.schedule) == 0  # no renewal date: nothing is due
    new = Timeline(book(triggers=RENEWAL_AND_TENURE), old.accounts)
    new.reschedule()
    assert len(new.schedule) == 3
    offers = [o for _, r in new.advance(moment(20).timestamp()) for o in r.offers]
    assert sorted(fired_at(offers)) == [("tenure", moment(day)) for day in (8, 9, 10)]


def test_an_account_deleted_after_it_was_scheduled_is_skipped() -> None:
    timeline = Timeline(rules(guards=""))
    for account in ("a", "b"):
        line = event_json("subscription", account, 0, f"s-{account}", plan="basic",
                          started_at=iso(-10), renews_at=iso(100))
        timeline.apply(timeline.get(account), decode_event(line))
    del timeline.accounts["a"]
    woken = [state.account_id for state, _ in timeline.advance(moment(40).timestamp())]
    assert woken == ["b"]


def test_a_sweep_that_fails_for_one_account_leaves_it_as_it_was_and_the_others_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeline = Timeline(rules(guards=""))
    for account in ("a", "b", "c"):
        line = event_json("subscription", account, 0, f"s-{account}", plan="basic",
                          started_at=iso(-10), renews_at=iso(100))
        timeline.apply(timeline.get(account), decode_event(line))
    before = encode_state(timeline.accounts["a"])

    def failing_after_an_offer(state: AccountState, now: float, rules: RuleBook,
                               drop_expired: bool = False) -> Evaluation:
        result = wake(state, now, rules)  # applies its offers to the state, then:
        if state.account_id == "a":
            raise RuntimeError("a bug in the core")
        return result

    monkeypatch.setattr("triggers.timeline.wake", failing_after_an_offer)
    woken = timeline.advance(moment(40).timestamp())
    failed = [state.account_id for state, result in woken if isinstance(result, Exception)]
    offered = [state.account_id for state, result in woken
               if not isinstance(result, Exception) and result.offers]
    assert failed == ["a"] and offered == ["b", "c"]
    restored = timeline.accounts["a"]
    assert restored.offers == [] and restored.fired_windows == {}  # nothing of it stayed
    assert {k: v for k, v in orjson.loads(encode_state(restored)).items() if k != "timers"} == {
        k: v for k, v in orjson.loads(before).items() if k != "timers"}
    # It tries again an hour later, and a fixed wake then makes its offer.
    monkeypatch.undo()
    assert timeline.advance(moment(40).timestamp() + RETRY_AFTER - 1) == []
    retried = timeline.advance(moment(40).timestamp() + RETRY_AFTER)
    assert [state.account_id for state, result in retried
            if not isinstance(result, Exception) and result.offers] == ["a"]


def test_advance_fires_what_is_due_even_when_its_results_are_not_read() -> None:
    timeline = Timeline(book(triggers=RENEWAL_ONLY))
    line = event_json("subscription", "a", 0, "s", plan="basic", started_at=iso(-10),
                      renews_at=iso(100))
    timeline.apply(timeline.get("a"), decode_event(line))
    timeline.advance(moment(40).timestamp())
    assert timeline.accounts["a"].fired_windows == {"renewal": moment(40).timestamp()}


# -- new rules between two events (a live rules switch) --------------------------

SEATS_80 = """
triggers:
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}}
"""
SEATS_80_AND_90 = SEATS_80 + """  - {id: seats-90, kind: usage_threshold, metric: seats, levels: [90],
     offer: {kind: upsell, recommend: next_tier}}
"""


def test_new_rules_keep_what_accounts_remember_per_trigger_id() -> None:
    """The same id keeps its fired level and its cooldown; a new id starts fresh; each
    offer names the version that made it."""
    old = book(guards="cooldown_days: 30", triggers=SEATS_80)
    new = book(guards="cooldown_days: 30", triggers=SEATS_80_AND_90)
    assert old.version != new.version
    table = AccountTable(old)
    table.apply(decode_event(event_json("subscription", "acme", 0, "s", plan="basic",
                                        started_at=iso(-100))))
    first = offers_of(table.apply(decode_event(event_json("usage", "acme", 1, "u1",
                                                          metric="seats", value=8))))
    assert [(o.trigger_id, o.rules_version) for o in first] == [("seats-80", old.version)]

    table.use(new)
    second = offers_of(table.apply(decode_event(event_json("usage", "acme", 2, "u2",
                                                           metric="seats", value=9))))
    # seats-80 is still fired at its level; seats-90 is new and fires, under the new rules.
    assert [(o.trigger_id, o.rules_version) for o in second] == [("seats-90", new.version)]
    table.apply(decode_event(event_json("usage", "acme", 3, "u3", metric="seats", value=5)))
    again = table.apply(decode_event(event_json("usage", "acme", 4, "u4", metric="seats",
                                                value=8)))
    assert offers_of(again) == []  # re-armed, but seats-80's cooldown from before the switch holds
    assert ("seats-80", "cooldown") in [(s.trigger_id, s.guard) for r in again
                                        for s in r.suppressed]


def test_new_rules_recompute_every_due_time() -> None:
    renewal_60 = book(triggers=RENEWAL_ONLY)
    renewal_30 = book(triggers=RENEWAL_ONLY.replace("days: [60, 30]", "days: [30]"))
    no_renewal = book(triggers=SEATS_80)
    table = AccountTable(renewal_60)
    table.apply(decode_event(event_json("subscription", "acme", 0, "s", plan="basic",
                                        started_at=iso(-100), renews_at=iso(100))))
    assert table.get("acme").timers == {"renewal": moment(40).timestamp()}

    table.use(renewal_30)
    assert table.get("acme").timers == {"renewal": moment(70).timestamp()}
    assert offers_of(table.advance(moment(69).timestamp())) == []
    table.use(no_renewal)
    assert table.get("acme").timers == {}
    assert len(table.timelines[0].schedule) == 0
    assert offers_of(table.advance(moment(99).timestamp())) == []


def test_a_timeline_given_new_rules_decides_with_them() -> None:
    accounts: dict[str, AccountState] = {}
    timeline = Timeline(book(triggers=SEATS_80), accounts)
    new = book(triggers=SEATS_80_AND_90)
    timeline.use(new)
    state = timeline.get("acme")
    timeline.apply(state, decode_event(event_json("subscription", "acme", 0, "s", plan="basic",
                                                  started_at=iso(-100))))
    result = timeline.apply(state, decode_event(event_json("usage", "acme", 1, "u",
                                                           metric="seats", value=9)))
    assert {o.rules_version for o in result.offers} == {new.version}
