"""HTTP ingest on a real broker: posted events reach the engine and make offers;
bad events are refused with their line; the token, the size limit and the
broker's acknowledgement are enforced; `upsell ingest` listens on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from schemas.events import OfferResponseEvent, decode_event
from streams.broker import EmbeddedBroker, free_port
from streams.cli.replay import ReplaySummary, replay
from streams.runtime.errors import TopicLayoutError
from streams.runtime.routing import home_partition
from streams.runtime.settings import EngineSettings, KafkaSettings, TopicSettings
from streams.worker.config import IngestSettings
from streams.worker.ingest import EVENTS_PATH, EventIngest, ingest_app, ingest_routes, make_ingest
from tests.factories import ROOT, example_book
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    EXAMPLE_EVENTS,
    assert_each_offer_once,
    create_topic,
    expected_offers,
    read_topic,
    running_engine,
    settings_for,
    topic_env,
    topics_for,
    wait_until,
)

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}
JSON = {**AUTH, "Content-Type": "application/json"}
LINES = EXAMPLE_EVENTS.read_bytes().splitlines()
REPLAY = ReplaySummary()
list(replay(LINES, example_book(), REPLAY))
OFFER = "4449f5c226e3119bc611e69e12199389"  # an offer the example events make


@contextlib.asynccontextmanager
async def serving(settings: EngineSettings, **ingest: Any) -> AsyncIterator[str]:
    """`upsell ingest`'s app in this process, on a free port; yields its base URL."""
    assert settings.kafka.bootstrap_servers is not None
    server = EventIngest(IngestSettings(token=TOKEN, **ingest), settings.kafka.bootstrap_servers,
                         settings.topics, {})
    async with _running(ingest_app(server)) as url:
        await wait_until(lambda: server.connected, 30, "ingest connected to Kafka")
        yield url


@contextlib.asynccontextmanager
async def _running(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def post(url: str, data: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=headers) as reply:
        return reply.status, await reply.json()


async def test_posted_events_are_consumed_by_the_engine_and_make_offers(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix, partitions=2)
    topics = settings.topics
    async with serving(settings) as url, running_engine(settings) as engine:
        status, reply = await post(url + EVENTS_PATH, EXAMPLE_EVENTS.read_bytes(), NDJSON)
        valid = len(LINES) - len(REPLAY.bad_lines)
        assert status == 202
        # Refused with the line number and the engine's own reason (what the DLQ would say).
        assert reply == {"accepted": valid, "rejected": len(REPLAY.bad_lines),
                         "errors": [{"line": n, "reason": r} for n, r in REPLAY.bad_lines]}
        expected = expected_offers(LINES, partitions=2)
        offers = await read_topic(kafka.bootstrap_servers, topics.offers, len(expected))
        await wait_until(lambda: engine.metrics.events == valid, 30, "every event consumed")
        assert engine.metrics.invalid == 0  # nothing invalid was sent
    assert_each_offer_once(offers, expected)
    events = await read_topic(kafka.bootstrap_servers, topics.events, valid, settle=0.3)
    good = [line for number, line in enumerate(LINES, 1)
            if number not in dict(REPLAY.bad_lines)]
    assert sorted(record.value for record in events) == sorted(good)  # the bytes as posted
    for record in events:
        account = orjson.loads(record.value)["account_id"]  # type: ignore[arg-type]
        assert record.key == account.encode()
        assert record.partition == home_partition(account, 2)


async def test_a_json_array_or_one_object_is_accepted_with_errors_by_position(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix, partitions=2)
    good, bad = LINES[0], b'{"event_id": "x", "type": "nps"}'
    async with serving(settings) as url:
        status, reply = await post(url + EVENTS_PATH, b"[" + bad + b",\n" + good + b"]", JSON)
        assert status == 202
        assert reply["accepted"] == 1
        assert [e["line"] for e in reply["errors"]] == [1]
        assert await post(url + EVENTS_PATH, good, JSON) == (
            202, {"accepted": 1, "rejected": 0, "errors": []})
        status, reply = await post(url + EVENTS_PATH, bad, JSON)
        assert status == 422  # nothing accepted
        assert reply["errors"][0]["reason"].startswith("nps.account_id: Field required")
        status, reply = await post(url + EVENTS_PATH, b'[{"a": 1} {"b": 2}]', JSON)
        assert status == 400 and "expected ',' or ']'" in reply["error"]
        status, reply = await post(url + EVENTS_PATH, good, {**AUTH, "Content-Type": "text/plain"})
        assert status == 415 and "application/x-ndjson" in reply["error"]
        assert (await post(url + EVENTS_PATH, b"\n\n", NDJSON))[0] == 400
    records = await read_topic(kafka.bootstrap_servers, settings.topics.events, 2, settle=0.3)
    assert [r.value for r in records] == [good, good]


async def test_a_missing_or_wrong_token_is_401_and_sends_nothing(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix, partitions=2)
    async with serving(settings) as url, aiohttp.ClientSession() as http:
        for authorization in (None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
                              "Bearer ", TOKEN):
            headers = {"Content-Type": "application/x-ndjson"}
            if authorization is not None:
                headers["Authorization"] = authorization
            for path in (EVENTS_PATH, f"/v1/offers/{OFFER}/response"):
                async with http.post(url + path, data=LINES[0], headers=headers) as reply:
                    assert reply.status == 401, authorization
                    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
                    assert await reply.json() == {"error": "missing or wrong bearer token"}
    assert await read_topic(kafka.bootstrap_servers, settings.topics.events, 0, settle=0.5) == []


async def test_a_body_past_the_limit_is_413_with_or_without_a_length(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix, partitions=2)
    body = b"\n".join(LINES[:40])
    assert 4096 < len(body) < 16_384

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: read until the limit
        for line in LINES[:40]:
            yield line + b"\n"

    async with serving(settings, max_body_bytes=4096) as url:
        status, reply = await post(url + EVENTS_PATH, body, NDJSON)
        assert status == 413 and "larger than 4096 bytes" in reply["error"]
        assert (await post(url + EVENTS_PATH, chunked(), NDJSON))[0] == 413
        assert (await post(url + EVENTS_PATH, b"\n".join(LINES[:5]), NDJSON))[0] == 202
    records = await read_topic(kafka.bootstrap_servers, settings.topics.events, 5, settle=0.3)
    assert len(records) == 5


async def test_an_offer_response_becomes_one_event_with_a_derived_id(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix, partitions=2)
    body = orjson.dumps({"account_id": "acct-00005", "response": "declined",
                         "occurred_at": "2026-01-05T16:30:00Z"})
    path = f"/v1/offers/{OFFER}/response"
    async with serving(settings) as url:
        first = await post(url + path, body, JSON)
        again = await post(url + path, body, JSON)  # a retry: the same event
        status, reply = await post(url + path, b'{"response": "declined"}', JSON)
        assert status == 422 and reply == {"error": "offer_response.account_id: Field required"}
        assert (await post(url + path, body, {**AUTH, "Content-Type": "text/plain"}))[0] == 415
    assert first == again
    status, reply = first
    assert status == 202 and reply["event_id"].startswith("resp1-")
    records = await read_topic(kafka.bootstrap_servers, settings.topics.events, 2, settle=0.3)
    events = [decode_event(r.value) for r in records]  # type: ignore[arg-type]
    assert all(isinstance(e, OfferResponseEvent) for e in events)
    assert {e.event_id for e in events} == {reply["event_id"]}
    assert events[0].offer_id == OFFER and events[0].response == "declined"
    assert {r.partition for r in records} == {home_partition("acct-00005", 2)}


async def test_ingest_answers_503_when_the_broker_does_not_acknowledge(topic_prefix: str) -> None:
    with EmbeddedBroker() as own:  # own broker: a paused shared one would stall other tests
        settings = EngineSettings(kafka=KafkaSettings(bootstrap_servers=own.bootstrap_servers),
                                  topics=TopicSettings(events=f"{topic_prefix}-events", partitions=2))
        async with serving(settings, ack_timeout_s=1.0) as url:
            assert (await post(url + EVENTS_PATH, LINES[0], NDJSON))[0] == 202
            own.pause()
            try:
                status, reply = await post(url + EVENTS_PATH, LINES[1], NDJSON)
            finally:
                own.resume()
    assert status == 503
    assert "send the request again" in reply["error"]


async def test_until_kafka_is_reached_ingest_answers_503_and_keeps_trying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    server = EventIngest(IngestSettings(token=TOKEN), nobody, TopicSettings(), {})
    with caplog.at_level("WARNING", logger="streams.worker.ingest"):
        async with _running(ingest_app(server)) as url:
            status, reply = await post(url + EVENTS_PATH, LINES[0], NDJSON)
            assert status == 503 and reply["error"].startswith("starting")
            assert (await post(url + EVENTS_PATH, LINES[0], {}))[0] == 401  # the token first
            await wait_until(lambda: "retrying in" in caplog.text, 30, "a retry")
    assert "cannot reach Kafka (KafkaConnectionError)" in caplog.text


def test_an_empty_or_short_token_is_refused_without_showing_it() -> None:
    assert make_ingest(IngestSettings(token=None), "127.0.0.1:9", TopicSettings(), {}) is None  # off
    for short in ("", "secret7"):
        with pytest.raises(ValueError, match="must have at least 8 characters") as caught:
            make_ingest(IngestSettings(token=short), "127.0.0.1:9", TopicSettings(), {})
        assert "secret7" not in str(caught.value)


async def test_with_no_token_the_paths_answer_404_and_say_how_to_turn_ingest_on() -> None:
    app = web.Application()
    for path, handler in ingest_routes(None):
        app.router.add_post(path, handler)
    async with _running(app) as url:
        for path in (EVENTS_PATH, f"/v1/offers/{OFFER}/response"):
            status, reply = await post(url + path, LINES[0], NDJSON)
            assert status == 404
            assert "set UPSELL_INGEST_TOKEN" in reply["error"]


def test_upsell_ingest_listens_on_localhost_and_needs_a_token(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("UPSELL_")},
           **topic_env(topics_for(topic_prefix, 2)), "UPSELL_INGEST_PORT": str(port)}
    command = [sys.executable, "-m", "streams.cli", "ingest", "--bootstrap-servers",
               kafka.bootstrap_servers]
    refused = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=60)
    assert refused.returncode == 2
    assert b"set UPSELL_INGEST_TOKEN" in refused.stderr
    server = subprocess.Popen(command, env={**env, "UPSELL_INGEST_TOKEN": TOKEN}, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert server.stderr is not None
        banner = server.stderr.readline().decode()
        assert f"ingest on http://127.0.0.1:{port}" in banner
        status = _post_when_up(f"http://127.0.0.1:{port}{EVENTS_PATH}", LINES[0])
        assert status == 202
        sockets = Path("/proc/net/tcp").read_text().splitlines()[1:]
        listening = {line.split()[1] for line in sockets if line.split()[3] == "0A"}
        assert f"0100007F:{port:04X}" in listening  # 127.0.0.1 only
        assert f"00000000:{port:04X}" not in listening
    finally:
        server.send_signal(signal.SIGTERM)
        exit_code = server.wait(30)
    assert exit_code == 0


def _post_when_up(url: str, body: bytes, timeout: float = 30) -> int:
    """POST once the server answers; the status code."""
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(url, data=body, headers=NDJSON, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as exc:
            if exc.code != 503:  # 503: still connecting to Kafka
                return exc.code
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in {timeout} s")
        time.sleep(0.2)


async def test_ingest_says_why_it_cannot_start_next_to_a_topic_of_another_count(
    kafka: KafkaUnderTest, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    topics = settings_for(kafka, topic_prefix, partitions=2).topics
    await create_topic(kafka.bootstrap_servers, topics.events, 3)
    ingest = EventIngest(IngestSettings(token=TOKEN), kafka.bootstrap_servers,
                         topics, {})
    with pytest.raises(TopicLayoutError):
        await ingest.start()
    assert not ingest.connected
    assert any(record.levelname == "ERROR" and "would not share one partition count" in record.message
               for record in caplog.records)
