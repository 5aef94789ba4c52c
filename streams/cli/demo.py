"""`upsell demo`: the whole loop on one machine, for a first look.

An embedded broker, a real worker process (`upsell worker`), a simulated
customer base sending events at a steady rate (with a few broken events, as
real producers send), and the offers printed as the worker publishes them,
with a line each simulated week to show how far the simulation has come; at
the end the worker's status and the outcome report (`upsell report`).

Simulated months pass in minutes, so the worker runs the event clock: its
timed triggers (renewals, tenure windows, quiet accounts) are due by the
events' time, as in `upsell replay`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from schemas.rules_file import load_rules
from streams.broker import EmbeddedBroker, free_port
from streams.cli.examples import example_path
from streams.cli.outcomes_topic import read_outcomes
from streams.cli.pretty import describe_offer
from streams.cli.producer import EventProducer
from streams.cli.report import Report
from streams.cli.simulator import Simulator
from streams.cli.tail import follow_offers
from streams.runtime.settings import TopicSettings
from streams.runtime.topics import ensure_topics
from triggers import RuleBook

RULES = example_path("saas-rules.yaml")
BROKEN_EVERY = 400  # one malformed event per this many, to show the dead-letter topic at work
# Events a simulated account sends per day, on average (its daily usage, and
# the rest): how fast simulated time runs at a given rate.
EVENTS_PER_ACCOUNT_DAY = 1.6
WEEK = 7 * 86_400
#: The demo worker's web port when it is free (the worker's own default), so the
#: README's curl lines run as pasted against a running demo.
DEMO_WEB_PORT = 6066
#: Turns on the demo worker's HTTP ingest. Demo only: it listens on 127.0.0.1.
DEMO_INGEST_TOKEN = "demo-token"


def run_demo(duration: float, accounts: int, rate: int, web_port: int | None = None) -> None:
    # SIGTERM stops the demo like Ctrl-C does, so the broker and worker are stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    book = RuleBook.compile(load_rules(RULES))
    web_port = _port_if_free(DEMO_WEB_PORT) if web_port is None else web_port
    log_path = Path(tempfile.mkdtemp(prefix="upsell-demo-")) / "worker.log"
    with EmbeddedBroker() as broker, log_path.open("wb") as log:
        bootstrap = broker.bootstrap_servers
        # Create the topics before the simulated product sends its first event:
        # a broker that creates topics on first use would make them with its own layout.
        asyncio.run(ensure_topics(bootstrap, TopicSettings(), {}))
        print(f"upsell demo: embedded broker at {bootstrap}; worker log in {log_path}")
        day = accounts * EVENTS_PER_ACCOUNT_DAY / rate
        print(f"simulating {accounts} accounts at {rate} events/s for {duration:g}s "
              f"(a simulated day every {day:.1g}s or so, {duration / day:.0f} days in all); "
              f"rules {RULES} ({book.version})")
        print("the worker runs the event clock (--clock event): simulated months pass in "
              "minutes, so renewals, tenure windows and quiet accounts fall due by the events' "
              "time, not the wall clock's")
        print(f"worker status page: http://127.0.0.1:{web_port}/  (JSON: /status, "
              f"metrics: /metrics)")
        print(f"HTTP ingest: POST http://127.0.0.1:{web_port}/v1/events with "
              f"'Authorization: Bearer {DEMO_INGEST_TOKEN}'\n", flush=True)
        worker = subprocess.Popen(
            # The event clock. The wall mode (the live default) also counts the wall
            # clock once a partition is caught up, and here the wall clock has nothing
            # to do with simulated time, which starts on a fixed date (in 2026) and
            # runs a day a second or so. Ahead of it, the wall clock would make every
            # timer due at once: every account quiet for 21 days, every renewal and
            # tenure offer made before the simulated events that come ahead of it.
            [sys.executable, "-m", "streams.cli", "worker", "--bootstrap-servers", bootstrap,
             "--rules", str(RULES), "--web-port", str(web_port), "--clock", "event"],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "UPSELL_INGEST_TOKEN": DEMO_INGEST_TOKEN},
        )
        try:
            asyncio.run(_drive(bootstrap, book, duration, accounts, rate, web_port))
        except KeyboardInterrupt:
            pass
        finally:
            status = _get_json(f"http://127.0.0.1:{web_port}/status")
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        _print_summary(status)
        # What `upsell report` says, from the outcomes the worker published.
        outcomes = asyncio.run(read_outcomes(bootstrap, TopicSettings().outcomes))
        print(f"\n--- outcome report (upsell report: {len(outcomes)} outcomes) ---")
        print(Report.of(outcomes).render())


async def _drive(bootstrap: str, book: RuleBook, duration: float, accounts: int, rate: int,
                 web_port: int) -> None:
    printer = asyncio.create_task(_print_offers(bootstrap))
    started = time.monotonic()
    while _get_json(f"http://127.0.0.1:{web_port}/readyz").get("ready") is not True:
        if time.monotonic() - started > 60:
            print("the worker did not become ready in 60s: see its log", file=sys.stderr)
            break
        await asyncio.sleep(0.5)
    else:
        print(f"[worker ready after {time.monotonic() - started:.1f}s]", flush=True)
    # Sent once the worker is ready, so that it keeps up from the first event and
    # the offers print in time order, not as a backlog of one partition after another.
    await _send_events(bootstrap, book, accounts, rate, duration)
    await asyncio.sleep(2)  # let the last offers arrive
    printer.cancel()


async def _send_events(bootstrap: str, book: RuleBook, accounts: int, rate: int,
                       duration: float) -> None:
    simulator = Simulator(book, accounts, seed=int(time.time()))
    events = simulator.events(days=3650)
    deadline = time.monotonic() + duration
    sent = 0
    week = simulator.start + WEEK
    async with EventProducer(bootstrap) as producer:
        tick = time.monotonic()
        while time.monotonic() < deadline:
            for _ in range(max(1, rate // 10)):
                event = next(events)
                at = datetime.fromisoformat(event["occurred_at"]).timestamp()
                if at >= week:  # how far simulated time has come
                    print(f"[simulated time: {datetime.fromtimestamp(week, UTC):%Y-%m-%d}, "
                          f"{sent:,} events sent]", flush=True)
                    week += WEEK
                await producer.send(orjson.dumps(event))
                sent += 1
                if sent % BROKEN_EVERY == 0:
                    broken = {**event, "event_id": f"broken-{sent}", "occurred_at": "yesterday"}
                    await producer.send_raw(orjson.dumps(broken), event["account_id"].encode())
            tick += 0.1
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
        await producer.flush()


async def _print_offers(bootstrap: str) -> None:
    async for offer in follow_offers(bootstrap, "upsell-offers", from_beginning=True):
        print(describe_offer(offer), flush=True)


def _port_if_free(port: int) -> int:
    """`port` on 127.0.0.1 if nothing listens there, else a free one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except (OSError, ValueError):
        return {}


def _print_summary(status: dict[str, Any]) -> None:
    if not status:
        return
    print("\n--- worker status ---")
    print(f"events consumed: {status['events']}  (invalid, sent to the DLQ: "
          f"{status['invalid_events']})")
    print(f"offers published: {status['offers']}")
    for trigger, count in sorted(status["offers_by_trigger"].items()):
        print(f"  {trigger}: {count}")
    print("held back by guard: " + ", ".join(
        f"{guard} {count}" for guard, count in sorted(status["held_back_by_guard"].items())))
    print(f"accounts: {status['accounts']}  checkpoints: {status['checkpoints']}")
