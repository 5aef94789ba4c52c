"""`upsell explain ACCOUNT`: what the engine remembers of one account, and what
would hold its triggers back now, for the question "why did I get this (or
not)?".

The state is read from the changelog as a worker restores it (the same code:
streams/runtime/state_store.py), from the account's home partition, so it is
the state at the last checkpoint (a running worker checkpoints every
checkpoint_interval_ms). The state keeps no log of the decisions that held a
trigger back: what it shows is the guards in force now, computed from the
state and the rules at the partition's clock, the moment the engine would
decide the account's next event or timer at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from streams.cli.offsets import topic_partitions
from streams.cli.ops_errors import TopicMissing
from streams.cli.pretty import utc_time
from streams.runtime.routing import home_partition
from streams.runtime.settings import TopicSettings
from streams.runtime.state_store import restore
from triggers import AccountState, RuleBook
from triggers.lifecycle import OPEN as OPEN_STATUSES
from triggers.pending import Pending
from triggers.state import encode_state
from triggers.trigger import Trigger


@dataclass(frozen=True)
class AccountView:
    """One account as its changelog partition holds it."""

    account_id: str
    changelog: str
    partition: int
    partitions: int
    state: AccountState | None  # None: the changelog holds no state for it
    applied_offset: int | None  # the events-topic offset of the last event applied
    forwarded: dict[int, int] | None  # origin partition -> highest origin offset applied
    clock: float  # the partition's clock at the last checkpoint (-inf: none recorded)
    accounts_on_partition: int

    @property
    def now(self) -> float:
        """The moment guards are judged at: the partition clock, or the account's
        latest event where no clock was recorded yet."""
        if self.clock != -math.inf:
            return self.clock
        return self.state.seen_at if self.state is not None else -math.inf


@dataclass(frozen=True)
class HeldBack:
    """Why a trigger would make no offer if it fired now."""

    trigger_id: str
    why: str  # a guard's name, nothing_to_offer or outside_segment
    until: float | None  # when the guard stops holding (inf: only an event ends it)


async def read_account(
    bootstrap_servers: str, client_options: dict[str, Any], topics: TopicSettings,
    account_id: str, committed_only: bool = False,
) -> AccountView:
    """The account's state from its home partition of the changelog (the partition
    count is the changelog's own; `upsell topics check` says if the topics disagree)."""
    partitions = await topic_partitions(bootstrap_servers, client_options, topics.changelog)
    if partitions is None:
        raise TopicMissing(f"topic {topics.changelog} does not exist: no worker has "
                               "run with these topics (`upsell topics check`)")
    partition = home_partition(account_id, len(partitions))
    restored = await restore(topics.changelog, [partition], client_options, bootstrap_servers,
                             committed_only=committed_only)
    store = restored[partition]
    return AccountView(
        account_id, topics.changelog, partition, len(partitions),
        store.accounts.get(account_id), store.applied.get(account_id),
        store.forwarded.get(account_id), store.restored_clock, len(store.accounts),
    )


def triggers_of(book: RuleBook) -> list[Trigger]:
    """Every compiled trigger, in the rules file's order."""
    by_id = {t.id: t for ts in book.listeners.values() for t in ts}
    by_id.update((t.id, t) for t in book.timed)
    return [by_id[spec.id] for spec in book.rules.triggers if spec.id in by_id]


def held_back(state: AccountState, book: RuleBook, now: float) -> list[HeldBack]:
    """For each trigger, what would stop it making an offer at `now`: its segment,
    nothing to offer on this plan, or each guard that holds (the engine names the
    first, in this order)."""
    found = []
    for trigger in triggers_of(book):
        if trigger.when is not None and not trigger.when.holds(state, now):
            found.append(HeldBack(trigger.id, "outside_segment", None))
            continue
        target = book.target_for(trigger.offer, state.plan, state.addons)
        if target is None:
            found.append(HeldBack(trigger.id, "nothing_to_offer", None))
            continue
        for guard in trigger.guards:
            if guard.holds_back(state, Pending(), trigger.id, target.key, now):
                found.append(HeldBack(trigger.id, guard.name,
                                      guard.until(state, trigger.id, target.key, now)))
    return found


def to_json(view: AccountView, book: RuleBook | None) -> bytes:
    """Everything, exact: the state as the engine restores it (times are POSIX
    seconds, as stored), and the guards in force if rules were given."""
    data: dict[str, Any] = {
        "account_id": view.account_id,
        "changelog": {"topic": view.changelog, "partition": view.partition,
                      "partitions": view.partitions},
        "found": view.state is not None,
        "applied_offset": view.applied_offset,
        "forwarded": {str(p): o for p, o in (view.forwarded or {}).items()},
        "partition_clock": None if view.clock == -math.inf else view.clock,
        "state": None if view.state is None else orjson.loads(encode_state(view.state)),
    }
    if book is not None and view.state is not None:
        data["rules_version"] = book.version
        data["held_back_now"] = [
            {"trigger_id": h.trigger_id, "why": h.why,
             "until": None if h.until is None or h.until == math.inf else h.until}
            for h in held_back(view.state, book, view.now)
        ]
    return orjson.dumps(data)


def render(view: AccountView, book: RuleBook | None) -> str:
    """For people: the account's plan, levels, timers, offers and guards."""
    state = view.state
    where = f"partition {view.partition} of {view.changelog} ({view.partitions} partitions)"
    if state is None:
        return (f"no state for account {view.account_id} on {where}, which holds "
                f"{view.accounts_on_partition} accounts: the engine has applied no event of "
                "it (check the id's spelling and case), or the partition count changed")
    lines = [f"account {view.account_id}: {where}, last event applied at offset "
             f"{view.applied_offset} of that partition of the events topic"]
    if view.clock != -math.inf:
        lines.append(f"partition clock: {_at(view.clock)} (engine time at the last checkpoint)")
    lines += _plan_lines(state)
    lines += _section("gauges", [f"{m}: {_num(v)} (at {_at(at)})"
                                 for m, (v, at) in sorted(state.gauges.items())])
    lines += _section("counters (this billing period)", [
        f"{m}: {_num(total)} ({_at(start)} .. {_at(end)})"
        for m, (total, start, end) in sorted(state.counters.items())])
    lines += _section("timers (due times of timed triggers)", [
        f"{t}: {_at(due)}{' (due)' if due <= view.now else ''}"
        for t, due in sorted(state.timers.items(), key=lambda item: item[1])])
    lines += _section("fired levels (re-armed when the level is left)",
                      [f"{t}: {level}" for t, level in sorted(state.fired_levels.items())])
    lines += _section("timed windows fired", [
        f"{t}: {_at(window)}" for t, window in sorted(state.fired_windows.items())])
    lines += _section("last offer by trigger", [
        f"{t}: {_at(at)}" for t, at in sorted(state.last_fired.items())])
    lines += _section("offers (the last ones kept, oldest first)", _offer_lines(view, book))
    lines += _section("silenced after a response", [
        f"{target}: until {_at(until)}" for target, until in sorted(state.silenced.items())])
    lines += _section("tickets", [
        f"{ticket}: {'open' if is_open else 'resolved'}, {severity}, at {_at(at)}"
        for ticket, (is_open, severity, at) in sorted(state.tickets.items())])
    if state.low_score_until != -math.inf:
        lines.append(f"low score: no offers until {_at(state.low_score_until)}")
    lines += _section("scores", [f"{kind}: {_num(score)} (at {_at(at)})"
                                 for kind, (score, at) in sorted(state.scores.items())])
    lines += _section("attributes", [f"{k}: {v}" for k, v in sorted(state.attributes.items())])
    lines += _section("signals", [f"{k}: {_at(at)}" for k, at in sorted(state.signals_at.items())])
    if book is None:
        lines.append("no rules file: guards not computed (give --rules)")
    else:
        lines += _section(
            f"held back now (if a trigger fired at {_at(view.now)}; rules {book.version})",
            _held_lines(held_back(state, book, view.now)) or ["nothing"])
    lines.append("The state keeps no log of past held-back decisions: the list above is what "
                 "holds each trigger back now. A worker's metrics count held-back offers by "
                 "guard and trigger.")
    return "\n".join(lines)


def _plan_lines(state: AccountState) -> list[str]:
    plan = f"plan: {state.plan or 'unknown'}"
    if state.plan_since is not None:
        plan += f" since {_at(state.plan_since)}"
    plan += f"; add-ons: {', '.join(state.addons) or 'none'}"
    if state.renews_at is not None:
        plan += f"; renews {_at(state.renews_at)}"
    times = [f"last event {_at(state.seen_at)}"]
    if state.signed_up_at is not None:
        times.insert(0, f"signed up {_at(state.signed_up_at)}")
    if state.last_usage_at is not None:
        times.append(f"last usage {_at(state.last_usage_at)}")
    return [plan, "; ".join(times)]


def _offer_lines(view: AccountView, book: RuleBook | None) -> list[str]:
    assert view.state is not None
    valid_for = {t.id: t.offer.valid_for for t in triggers_of(book)} if book is not None else {}
    lines = []
    for offer in view.state.offers:
        line = (f"{_at(offer.created_at)} {offer.trigger_id} {offer.kind} {offer.target}: "
                f"{offer.status}")
        seconds = valid_for.get(offer.trigger_id)
        if offer.status in OPEN_STATUSES and seconds is not None:
            expires = offer.created_at + seconds
            line += f", {'open until' if expires > view.now else 'expired'} {_at(expires)}"
        lines.append(f"{line}  [{offer.offer_id}]")
    return lines


def _held_lines(found: list[HeldBack]) -> list[str]:
    """One line per reason, naming the triggers it holds (a silence on a plan holds
    every trigger that offers it)."""
    by_reason: dict[tuple[str, float | None], list[str]] = {}
    for held in found:
        by_reason.setdefault((held.why, held.until), []).append(held.trigger_id)
    lines = []
    for (why, until), trigger_ids in by_reason.items():
        if why == "nothing_to_offer":
            reason = "nothing to offer on this plan"
        elif why == "outside_segment":
            reason = "the account is outside the trigger's segment (when:)"
        elif until is None or until == math.inf:
            reason = f"{why}, until an event ends it"
        else:
            reason = f"{why} until {_at(until)}"
        lines.append(f"{reason}: {', '.join(trigger_ids)}")
    return lines


def _section(title: str, rows: list[str]) -> list[str]:
    return [f"{title}:", *(f"  {row}" for row in rows)] if rows else []


def _at(seconds: float) -> str:
    return "never" if math.isinf(seconds) else utc_time(seconds)


def _num(value: float) -> str:
    """An exact number as people write it: 41, not 41.0; 0.5 as it is."""
    return str(int(value)) if float(value).is_integer() else repr(value)
