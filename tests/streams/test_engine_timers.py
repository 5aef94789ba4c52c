"""Timed triggers on a real broker: offers made with no event at their due time.

In `event` clock mode the engine must make exactly the offers replay makes for
the same events and partitions, timed ones included; in `wall` mode a due
timer fires on time with no event at all; and a worker killed after a timed
offer neither sends it again nor loses one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from schemas.rules_file import parse_rules
from streams.broker import free_port
from streams.cli.replay import replay
from streams.runtime.routing import home_partition
from tests.factories import CATALOGUE, ROOT, T0, event_json
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    assert_each_offer_once,
    read_topic,
    running_engine,
    send_lines,
    settings_for,
    topic_env,
    wait_until,
    worker_status,
)
from triggers import RuleBook

TIMED_RULES = CATALOGUE + """
triggers:
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}, priority: 50}
  - {id: renewal, kind: before_renewal, days: [60, 30],
     offer: {kind: upsell, recommend: next_tier}, priority: 70}
  - {id: tenure, kind: tenure, from_days: 90, to_days: 180,
     offer: {kind: cross_sell, recommend: "addon:reports"}, priority: 40}
  - {id: quiet, kind: inactivity, days: 21,
     offer: {kind: down_sell, recommend: previous_tier}, priority: 90,
     ignore_guards: [account_cap]}
guards:
  account_cap: {max_offers: 1, per_days: 7}
"""
BOOK = RuleBook.compile(parse_rules(TIMED_RULES, "timed-rules.yaml"))
PARTITIONS = 4
DAYS = 120


def _at(day: float) -> str:
    return (T0 + timedelta(days=day)).isoformat()


def timed_events(accounts: int = 24, days: int = DAYS) -> list[bytes]:
    """Accounts that subscribe and then either keep reporting seats every few days
    (busy: they move their partition's clock) or go quiet after signing up (their
    renewal, tenure and inactivity offers come with no event of theirs)."""
    lines: list[tuple[float, bytes]] = []
    for index in range(accounts):
        account = f"acct-{index:02d}"
        plan = "pro" if index % 3 == 0 else "basic"
        start = index % 5
        lines.append((start, event_json(
            "subscription", account, start, f"{account}-sub", plan=plan,
            started_at=_at(start - 60 - index), renews_at=_at(70 + 2 * index),
        )))
        if index % 2 == 0:
            continue  # quiet
        for day in range(start + 1, days, 3):
            seats = 3 + (index + day // 10) % 9
            lines.append((day + 0.5, event_json(
                "usage", account, day + 0.5, f"{account}-u{day}", metric="seats", value=seats,
            )))
    lines.sort(key=lambda pair: pair[0])
    return [line for _, line in lines]


def expected(lines: list[bytes], partitions: int = PARTITIONS) -> dict[str, bytes]:
    return {offer.offer_id: offer.model_dump_json().encode()
            for offer in replay(lines, BOOK, partitions=partitions)}


def _busy_on_every_partition(lines: list[bytes], partitions: int) -> bool:
    busy = {orjson.loads(line)["account_id"] for line in lines if b'"usage"' in line}
    return {home_partition(account, partitions) for account in busy} == set(range(partitions))


async def test_in_event_mode_the_engine_makes_the_offers_replay_makes_timed_ones_included(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    lines = timed_events()
    assert _busy_on_every_partition(lines, PARTITIONS), "each partition's clock must move"
    wanted = expected(lines)
    timed = {offer_id: orjson.loads(value) for offer_id, value in wanted.items()
             if orjson.loads(value)["caused_by"].startswith("due:")}
    quiet = {offer["account_id"] for offer in timed.values()
             if int(offer["account_id"][-2:]) % 2 == 0}
    kinds = {offer["trigger_id"] for offer in timed.values()}
    assert kinds == {"renewal", "tenure", "quiet"} and quiet, "the sample exercises every kind"

    settings = settings_for(kafka, topic_prefix, partitions=PARTITIONS, clock="event")
    async with running_engine(settings, BOOK):
        await send_lines(kafka.bootstrap_servers, settings.topics.events, lines)
        records = await read_topic(kafka.bootstrap_servers, settings.topics.offers, len(wanted))
    assert_each_offer_once(records, wanted)
    # Offers of accounts that sent nothing after signing up: made by the sweep alone.
    assert {orjson.loads(r.value or b"")["account_id"] for r in records} >= quiet


async def test_in_wall_mode_a_due_timer_fires_within_two_sweep_intervals_with_no_event(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    sweep_interval = 0.5
    settings = settings_for(kafka, topic_prefix, partitions=2, clock="wall",
                            sweep_interval_ms=int(sweep_interval * 1000))
    async with running_engine(settings, BOOK) as engine:
        await wait_until(lambda: engine.ready, 60, "the engine's partitions")
        now = time.time()
        due = round(now) + 4.0  # the 60-days-before point of this renewal
        subscription = orjson.dumps({
            "event_id": "s-1", "account_id": "acme", "type": "subscription", "plan": "basic",
            "occurred_at": datetime.fromtimestamp(now - 1, UTC).isoformat(),
            "renews_at": datetime.fromtimestamp(due + 60 * 86_400, UTC).isoformat(),
        })
        await send_lines(kafka.bootstrap_servers, settings.topics.events, [subscription])
        await wait_until(lambda: engine.metrics.events == 1, 30, "the subscription")
        assert engine.metrics.decisions.offers.total() == 0, "nothing is due yet"
        await wait_until(lambda: engine.metrics.decisions.offers.total() == 1, 30,
                         "the renewal offer")
        fired_at = time.time()
        records = await read_topic(kafka.bootstrap_servers, settings.topics.offers, 1)
    assert due <= fired_at < due + 2 * sweep_interval, f"fired {fired_at - due:.2f} s after due"
    offer = orjson.loads(records[0].value or b"")
    assert offer["trigger_id"] == "renewal"
    assert datetime.fromisoformat(offer["created_at"]).timestamp() == due
    assert offer["caused_by"].startswith("due:")


async def test_a_worker_killed_after_a_timed_offer_does_not_send_it_again_and_loses_none(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path
) -> None:
    partitions = 2
    lines = timed_events(accounts=12)
    assert _busy_on_every_partition(lines, partitions)
    wanted = expected(lines, partitions)
    half = len(lines) // 2
    first_half_timed = [
        offer_id for offer_id, value in expected(lines[:half], partitions).items()
        if orjson.loads(value)["caused_by"].startswith("due:")
    ]
    assert first_half_timed, "the kill comes after a timed offer"
    rules = tmp_path / "timed-rules.yaml"
    rules.write_text(TIMED_RULES)
    settings = settings_for(kafka, topic_prefix, partitions=partitions)
    env = {
        **os.environ,
        "UPSELL_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        **topic_env(settings.topics), "UPSELL_GROUP_ID": settings.group_id,
        "UPSELL_SESSION_TIMEOUT_MS": "6000", "UPSELL_CLOCK": "event", "UPSELL_RULES": str(rules),
    }

    def start_worker(port: int, checkpoints: bool) -> subprocess.Popen[bytes]:
        # Before the kill: no checkpoint at all, so every offer it sent is decided again.
        no_checkpoint = {"UPSELL_CHECKPOINT_INTERVAL_MS": "600000",
                         "UPSELL_CHECKPOINT_MAX_EVENTS": "1000000"}
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--web-port", str(port)],
            env={**env, **({} if checkpoints else no_checkpoint)}, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    port = free_port()
    worker = start_worker(port, checkpoints=False)
    try:
        await wait_until(lambda: worker_status(port).get("ready") is True, 60, "the worker")
        await send_lines(kafka.bootstrap_servers, settings.topics.events, lines[:half])
        sent_before = await read_topic(kafka.bootstrap_servers, settings.topics.offers,
                                       len(expected(lines[:half], partitions)), settle=0)
        assert set(first_half_timed) <= {orjson.loads(r.value or b"")["offer_id"]
                                         for r in sent_before}
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)

        port = free_port()
        worker = start_worker(port, checkpoints=True)
        await wait_until(lambda: worker_status(port).get("ready") is True, 60, "the restart")
        await send_lines(kafka.bootstrap_servers, settings.topics.events, lines[half:])
        await wait_until(lambda: worker_status(port).get("events") == len(lines), 60,
                         "every event after the restart")
        records = await read_topic(kafka.bootstrap_servers, settings.topics.offers, len(wanted))
        not_resent = worker_status(port).get("offers_not_resent")
    finally:
        worker.terminate()
        worker.wait(30)
    assert_each_offer_once(records, wanted)
    assert not_resent and not_resent >= len(first_half_timed)


async def test_an_event_dated_far_ahead_of_its_record_goes_to_the_dlq_and_moves_no_clock(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    """One event dated next year would make every timer of its partition due at
    once, for good (a clock never goes back): it is refused instead."""
    settings = settings_for(kafka, topic_prefix, partitions=1, clock="event")
    now = time.time()
    dated = [
        event_json("subscription", "acme", 0, "s-1", plan="basic", started_at=_at(-10),
                   renews_at=_at(100)),
    ]
    ahead = orjson.dumps({"event_id": "far", "account_id": "acme", "type": "milestone",
                          "name": "project_completed",
                          "occurred_at": datetime.fromtimestamp(now + 400 * 86_400,
                                                                UTC).isoformat()})
    async with running_engine(settings, BOOK) as engine:
        await send_lines(kafka.bootstrap_servers, settings.topics.events, [*dated, ahead])
        dead = await read_topic(kafka.bootstrap_servers, settings.topics.dlq, 1)
        await wait_until(lambda: engine.metrics.events == 2, 30, "both events")
        clock = engine.stores[0].clock
    assert [r.value for r in dead] == [ahead]
    assert b"more than 86400 s after the record was produced" in dict(dead[0].headers)[
        "upsell.error"]
    assert clock == T0.timestamp()  # the subscription's time, not next year's
