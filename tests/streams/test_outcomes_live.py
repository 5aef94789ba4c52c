"""Outcomes on a real broker: an upgrade credits the shown offer with its MRR and
withdraws the other, in the outcomes topic and in `upsell report`, which gives
what `upsell replay --report` gives for the same events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson

from schemas.outcomes import Outcome
from tests.factories import CATALOGUE, DEFAULT_TRIGGERS, ROOT, book, event_json
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import read_topic, running_engine, send_lines, settings_for
from triggers.offers import offer_id_for

SEATS_OFFER = offer_id_for("acme", "seats-80", "acme-seats")
CALLS_OFFER = offer_id_for("acme", "calls-80", "acme-calls")
LINES = [
    event_json("subscription", "acme", -1, "acme-signup", plan="basic"),
    event_json("subscription", "globex", -1, "globex-signup", plan="basic"),
    event_json("usage", "acme", 0, "acme-seats", metric="seats", value=8),  # seats-80 -> Pro
    event_json("usage", "acme", 1, "acme-calls", metric="api_calls", delta=900),  # calls-80
    event_json("offer_response", "acme", 1.5, "acme-shown", offer_id=CALLS_OFFER,
               response="shown"),
    event_json("offer_response", "globex", 1.5, "globex-made-up", offer_id="made-up",
               response="accepted"),
    event_json("subscription", "acme", 2, "acme-upgrade", plan="pro"),  # takes up both
]
EXPECTED = [  # (offer, status), in the order the account lived them
    (SEATS_OFFER, "made"), (CALLS_OFFER, "made"), (CALLS_OFFER, "shown"),
    (CALLS_OFFER, "converted"), (SEATS_OFFER, "withdrawn"),
]


def _upsell(*args: str, env: dict[str, str] | None = None) -> bytes:
    done = subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True,
                          check=True, cwd=ROOT, env=env)
    return done.stdout


def _body(page: Path) -> str:
    text = page.read_text()
    return text[text.index("<main>"):text.index("</main>")]


async def test_an_upgrade_credits_the_shown_offer_and_withdraws_the_other_as_replay_says(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(kafka, topic_prefix)
    async with running_engine(settings, book()):
        await send_lines(kafka.bootstrap_servers, settings.topics.events, LINES)
        records = await read_topic(kafka.bootstrap_servers, settings.topics.outcomes,
                                   len(EXPECTED) + 1)
    outcomes = [Outcome.model_validate_json(r.value) for r in records if r.value is not None]
    acme = [o for o in outcomes if o.account_id == "acme"]
    assert [(o.offer_id, o.status) for o in acme] == EXPECTED
    converted = next(o for o in acme if o.status == "converted")
    assert (converted.trigger_id, converted.expansion_mrr) == ("calls-80", 78.0)  # 98 - 20
    assert (converted.plan_before, converted.plan_after) == ("basic", "pro")
    assert all(r.key == b"acme" for r in records if orjson.loads(r.value)["account_id"] == "acme")
    [unknown] = [o for o in outcomes if o.account_id == "globex"]
    assert (unknown.status, unknown.offer_id) == ("unknown_offer", "made-up")

    # The report from the topic is the one replay computes from the same events.
    rules = tmp_path / "rules.yaml"
    rules.write_text(CATALOGUE + DEFAULT_TRIGGERS)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(LINES) + b"\n")
    env = {**os.environ, "UPSELL_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    live_page, offline_page = tmp_path / "live.html", tmp_path / "offline.html"
    live = await asyncio.to_thread(_upsell, "report", "--topic", settings.topics.outcomes,
                                   "--json", "--html", str(live_page), env=env)
    offline = await asyncio.to_thread(_upsell, "replay", "--rules", str(rules), "--partitions",
                                      "4", "--report", "--json", "--html", str(offline_page),
                                      str(events))
    assert live == offline
    # ... and so is the page for the growth team (its header names where the figures came from).
    assert _body(live_page) == _body(offline_page) and "calls-80" in _body(live_page)
    calls = next(t for t in orjson.loads(live)["triggers"] if t["trigger"] == "calls-80")
    assert (calls["offered"], calls["shown"], calls["converted"], calls["expansion_mrr"]) == (
        1, 1, 1, 78.0)
