"""The simulated customer base (streams/cli/simulator.py, customer_base.py): its
events are in time order and repeat for a seed, its customers answer the offers
the engine makes, and its data hold every moment the example rules are written
for: renewals, tenure windows, payroll teams growing past 10, growth spurts,
steady growth, usage collapses and quiet spells."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import cache
from itertools import pairwise
from typing import Any

import orjson

from streams.cli.customer_base import DAY, renewal_after
from streams.cli.replay import replay
from streams.cli.simulator import Simulator
from tests.factories import example_book

Event = dict[str, Any]
ACCOUNTS, DAYS = 36, 60


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@cache
def run(seed: int = 7) -> tuple[Simulator, tuple[Event, ...]]:
    simulator = Simulator(example_book(), ACCOUNTS, seed=seed)
    return simulator, tuple(simulator.events(DAYS))


def by_account(events: tuple[Event, ...]) -> dict[str, list[Event]]:
    accounts: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        accounts[event["account_id"]].append(event)
    return accounts


def seats_of(events: list[Event]) -> list[tuple[float, float]]:
    return [(at(e["occurred_at"]), e["value"]) for e in events
            if e["type"] == "usage" and e["metric"] == "seats"]


def test_events_come_in_event_time_order_and_repeat_for_a_seed() -> None:
    _, events = run()
    times = [at(event["occurred_at"]) for event in events]
    assert times == sorted(times)
    assert list(Simulator(example_book(), ACCOUNTS, seed=7).events(DAYS)) == list(events)
    assert list(Simulator(example_book(), ACCOUNTS, seed=8).events(DAYS)) != list(events)


def test_its_customers_answer_the_offers_replay_makes_timed_ones_included() -> None:
    # The simulator's table moves its clock at each day's start and replay at each
    # event: the same timed offers, at the same due times, in the same order.
    simulator, events = run()
    replayed = list(replay([orjson.dumps(event) for event in events], example_book()))
    assert replayed == simulator.offers
    answered = {e["offer_id"] for e in events if e["type"] == "offer_response"}
    timed = [offer for offer in replayed if offer.caused_by.startswith("due:")]
    assert timed and answered & {offer.offer_id for offer in timed}


def test_an_account_tells_what_it_is_before_its_subscription() -> None:
    _, events = run()
    for account_events in by_account(events).values():
        first, second = account_events[:2]
        assert first["type"] == "account" and second["type"] == "subscription"
        assert {"industry", "employees", "country", "contract_term"} <= first.keys()
        assert first["contract_term"] in ("monthly", "annual")
        assert len(first["country"]) == 2


def test_monthly_contracts_renew_each_month_and_annual_ones_on_the_anniversary() -> None:
    simulator, events = run()
    accounts = by_account(events)
    renewed = defaultdict(list)
    for account_events in accounts.values():
        subscriptions = [e for e in account_events if e["type"] == "subscription"]
        assert all(at(e["renews_at"]) > at(e["occurred_at"]) for e in subscriptions)
        for previous, event in pairwise(subscriptions):
            if event["occurred_at"] == previous["renews_at"]:  # billing renewed it
                renewed[event["account_id"]].append(at(event["renews_at"]) - at(event["occurred_at"]))
    terms = {a.account_id: a.contract_term for a in simulator.accounts}
    monthly = [gap for account, gaps in renewed.items() if terms[account] == "monthly" for gap in gaps]
    annual = [gap for account, gaps in renewed.items() if terms[account] == "annual" for gap in gaps]
    assert monthly and all(28 * DAY <= gap <= 31 * DAY for gap in monthly)
    assert all(365 * DAY <= gap <= 366 * DAY for gap in annual)
    # Some annual contracts renew within 60 days of the run, so the renewal offer shows.
    start = simulator.start
    assert any(terms[e["account_id"]] == "annual" and at(e["renews_at"]) - start < DAYS * DAY
               for e in events if e["type"] == "subscription")


def test_renewals_fall_on_the_signup_day_of_the_month() -> None:
    signed_up = datetime.fromisoformat("2025-01-31T10:00:00Z").timestamp()
    after = datetime.fromisoformat("2026-02-01T00:00:00Z").timestamp()
    assert renewal_after(signed_up, 1, after) == at("2026-02-28T10:00:00Z")
    assert renewal_after(signed_up, 1, at("2026-02-28T10:00:00Z")) == at("2026-03-31T10:00:00Z")
    assert renewal_after(signed_up, 12, after) == at("2027-01-31T10:00:00Z")


def test_tenure_windows_open_before_and_during_the_run() -> None:
    simulator, events = run()
    start, end = simulator.start, simulator.start + DAYS * DAY
    signed_up = {e["account_id"]: at(e["started_at"]) for e in events if e["type"] == "subscription"}
    assert any(90 * DAY <= start - t <= 180 * DAY for t in signed_up.values())  # in it at the start
    assert any(start < t + 90 * DAY < end for t in signed_up.values())  # it opens during the run
    assert any(t > start for t in signed_up.values())  # signed up during the run


def test_payroll_teams_grow_past_10_employees() -> None:
    _, events = run()
    crossed = []
    for account_events in by_account(events).values():
        told = [e for e in account_events if e["type"] == "account" and "employees" in e]
        if told[0].get("industry") == "payroll" and told[0]["employees"] < 10 <= told[-1]["employees"]:
            crossed.append(told[0]["account_id"])
    assert crossed


def test_some_teams_add_5_seats_in_a_month_and_some_lose_half() -> None:
    _, events = run()
    spurts, collapses = [], []
    for account, account_events in by_account(events).items():
        seats = seats_of(account_events)
        for i, (when, value) in enumerate(seats):
            month = [level for then, level in seats[:i] if when - then <= 30 * DAY]
            if month and value - min(month) >= 5:
                spurts.append(account)
            if month and value <= max(month) / 2:
                collapses.append(account)
    assert len(set(spurts)) >= 3
    assert 1 <= len(set(collapses)) < ACCOUNTS / 4  # a few, not most


def test_quiet_accounts_send_nothing_for_three_weeks_then_answer_the_offer() -> None:
    simulator, events = run()
    accounts = by_account(events)
    quiet_offers = [offer for offer in simulator.offers if offer.trigger_id == "quiet-21-days"]
    assert quiet_offers
    for offer in quiet_offers:
        due = offer.created_at.timestamp()
        before = [e for e in accounts[offer.account_id] if at(e["occurred_at"]) < due]
        last_usage = max(at(e["occurred_at"]) for e in before if e["type"] == "usage")
        assert due == last_usage + 21 * DAY  # made at its due time, with no event
        assert all(at(e["occurred_at"]) <= last_usage + DAY for e in before)  # silent since
    responses = [e for e in events if e["type"] == "offer_response"
                 and e["offer_id"] in {offer.offer_id for offer in quiet_offers}]
    assert responses  # the customer can answer it: it comes back


def test_a_lone_quiet_account_is_offered_help_at_its_due_time_and_comes_back() -> None:
    # No other account sends anything: only the simulator's clock, moved at each
    # day's start, can find the quiet spell while it lasts.
    simulator = Simulator(example_book(), 1, seed=3)
    account = simulator.accounts[0]
    account.story, account.story_day, account.mood = "quiet", 3, "promoter"
    events = list(simulator.events(DAYS))
    [offer] = [offer for offer in simulator.offers if offer.trigger_id == "quiet-21-days"]
    due = offer.created_at.timestamp()
    after = [e for e in events if at(e["occurred_at"]) > due]
    assert after[0]["type"] == "offer_response" and after[0]["offer_id"] == offer.offer_id
    assert at(after[0]["occurred_at"]) - due < 1.5 * DAY  # by the next day's start, and shown
    assert any(e["type"] == "usage" for e in after)  # it uses the product again


def test_a_small_run_makes_an_offer_of_every_time_and_segment_trigger() -> None:
    simulator, _ = run()
    fired = {offer.trigger_id for offer in simulator.offers}
    assert fired >= {"renewal-60", "tenure-3-6-months", "seats-growth", "seats-forecast",
                     "payroll-accounting", "seats-collapse", "quiet-21-days"}
