"""The sweep's cost (part of `make bench-core`): a partition's timers, with a fixed
number of accounts due among many more that are not.

The accounts are made as a restore makes them (`AccountState.from_dict`), from
one account decided by the core on real events (a Basic subscription with a
renewal date, an annual contract, seat readings on five days), each with its
own id and renewal date. Per round, `due` of them renew in 60 days minus half
an hour at the round's clock, so the renewal offer (renewal-60) is due; every
other account renews 61 days or more after the last round, and none of its
other timers (inactivity, tenure) is due before then. Then, for each size:

  reschedule  `Timeline.reschedule()` over all the accounts: what a restore or
              a change of rules does once (every due time recomputed, indexed)
  has_due     the check the engine makes per event and per sweep interval, with
              nothing due: one comparison
  index       `Schedule.pop_due()` until empty, on a second index of the same due times: the due
              accounts taken off the heap, no wake (O(log n) each)
  sweep       `Timeline.sweep()` at the round's clock: the due accounts taken off
              the index, woken (the offer decided and made) and indexed again

The sweep touches only the due accounts, so with the same number due its time
must not grow with the accounts that are not (bar the heap's log n).

The timed sections run with the garbage collector paused (after a collection):
a collection that falls into one walks every object of the process, the
accounts not due included, which is the heap's cost, not the sweep's, and would
make one round of five ten times slower than the others.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas.events import decode_event
from triggers import AccountState, RuleBook, evaluate
from triggers.schedule import Schedule
from triggers.state import encode_state
from triggers.timeline import Timeline

Json = dict[str, Any]

CLOCK = datetime(2026, 6, 1, tzinfo=UTC)  # the first round's clock is an hour after
ROUND = timedelta(hours=1)  # between two rounds' clocks
DUE_BEFORE_CLOCK = timedelta(minutes=30)  # a due account's renewal-60 starts this early
RENEWAL_LEAD = timedelta(days=60)  # renewal-60's window
HAS_DUE_CALLS = 100_000


def template(book: RuleBook) -> Json:
    """One account as the core leaves it after a few real events, encoded."""
    state = AccountState("template")
    day = timedelta(days=1)
    events: list[dict[str, Any]] = [
        {"type": "subscription", "plan": "basic", "at": CLOCK - 6 * day,
         "started_at": CLOCK - 400 * day, "renews_at": CLOCK + 300 * day},
        {"type": "account", "at": CLOCK - 6 * day, "industry": "software", "employees": 40,
         "country": "DE", "contract_term": "annual"},
        *({"type": "usage", "metric": "seats", "value": 3 + n % 2, "at": CLOCK - (5 - n) * day}
          for n in range(5)),
        {"type": "usage", "metric": "api_calls", "delta": 120, "at": CLOCK - day},
    ]
    for n, event in enumerate(events):
        body = {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in event.items() if key != "at"}
        line = orjson.dumps({"event_id": f"t-{n}", "account_id": "template",
                             "occurred_at": event["at"].isoformat(), **body})
        result = evaluate(state, decode_event(line), book)
        assert not result.offers, f"the template account must not fire: {result.offers}"
    encoded: Json = orjson.loads(encode_state(state))
    return encoded


def make_accounts(book: RuleBook, accounts: int, due: int, rounds: int, seed: int = 1
                  ) -> dict[str, AccountState]:
    """`accounts` states, `due` of them due in each of `rounds` rounds (see the docstring)."""
    base = template(book)
    rnd = random.Random(seed)
    numbers = list(range(accounts))
    rnd.shuffle(numbers)  # the due accounts are spread over the ids and the heap
    last = CLOCK + rounds * ROUND
    states = {}
    for position, number in enumerate(numbers):
        round_ = position // due
        if round_ < rounds:
            renews = CLOCK + (round_ + 1) * ROUND - DUE_BEFORE_CLOCK + RENEWAL_LEAD
        else:
            renews = last + RENEWAL_LEAD + timedelta(days=rnd.uniform(1, 340))
        account_id = f"acct-{number}"
        states[account_id] = AccountState.from_dict(
            {**base, "account_id": account_id, "renews_at": renews.timestamp(), "timers": {}}
        )
    return states


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def measure(book: RuleBook, accounts: int, due: int, rounds: int) -> Json:
    """The figures of one size (see the module docstring); seconds per round."""
    states = make_accounts(book, accounts, due, rounds)
    timeline = Timeline(book, states)
    with collector_paused():
        started = time.perf_counter()
        timeline.reschedule()
        reschedule = time.perf_counter() - started
    schedule = timeline.schedule
    scheduled = len(schedule)

    started = time.perf_counter()
    for _ in range(HAS_DUE_CALLS):
        schedule.has_due()
    has_due = (time.perf_counter() - started) / HAS_DUE_CALLS
    assert not schedule.has_due(), "nothing is due before the first round"

    index_only = Schedule(schedule.clock)  # a second index of the same due times
    for state in states.values():
        index_only.track(state)
    index, sweep, offers = [], [], 0
    for round_ in range(1, rounds + 1):
        clock = (CLOCK + round_ * ROUND).timestamp()
        index_only.advance(clock)
        schedule.advance(clock)
        with collector_paused():
            started = time.perf_counter()
            popped = []
            while (account_id := index_only.pop_due()) is not None:
                popped.append(account_id)
            index.append(time.perf_counter() - started)
            started = time.perf_counter()
            woken = timeline.sweep()
            sweep.append(time.perf_counter() - started)
        assert len(popped) == due, (len(popped), due)
        assert len(woken) == due, (len(woken), due)
        for _, evaluation in woken:
            assert not isinstance(evaluation, Exception), evaluation
            # Decisions: sent, or held out (the example rules' control group).
            offers += sum(o.status in ("made", "held_out") for o in evaluation.outcomes)
    figures: Json = {
        "accounts": accounts, "due": due, "rounds": rounds, "scheduled": scheduled,
        "reschedule_s": reschedule, "has_due_s": has_due, "index_s": index, "sweep_s": sweep,
        "offers": offers,
    }
    del states, timeline, schedule, index_only
    gc.collect()
    return figures


def measure_sizes(book: RuleBook, sizes: list[int], due: int, rounds: int) -> list[Json]:
    return [measure(book, accounts, due, rounds) for accounts in sizes]
