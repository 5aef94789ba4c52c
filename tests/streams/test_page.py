"""The status page: rendered from the live numbers, self-refreshing, no external
assets; and in headless Chromium, a running worker's page shows what /status says."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from streams.broker import free_port
from streams.worker.history import Minute, Totals
from streams.worker.page import REFRESH_S, PageView, render_status_page
from tests.factories import EXAMPLE_RULES, ROOT
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import (
    EXAMPLE_EVENTS,
    send_lines,
    settings_for,
    topic_env,
    worker_status,
)

T = 1_772_442_000.0


def view(**changes: object) -> PageView:
    minutes = [Minute(T + 60 * i, None if i < 2 else 10 * i, 0 if i < 4 else 1, {"seats-80": i})
               for i in range(5)]
    fields: dict[str, object] = dict(
        ready=True, rules_version="2026-12-saas+7a1c5c53", partitions=[0, 1], lag={0: 3, 1: 1_204},
        totals=Totals(1_467_063, 12, {"seats-80": 40, "retired-trigger": 2}),
        triggers=["seats-80", "seats-100"], events_per_second=812.25, minutes=minutes,
        uptime_s=3_725,
    )
    fields.update(changes)
    return PageView(**fields)  # type: ignore[arg-type]


class Stats(HTMLParser):
    """The text of every element marked data-stat, by stat (and trigger)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.attributes: dict[str, dict[str, str | None]] = {}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-stat" in found:
            name = str(found["data-stat"])
            if "data-trigger" in found:
                name += f":{found['data-trigger']}"
            self._open, self.values[name], self.attributes[name] = name, "", found

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.values[self._open] += data

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def stats_of(html: str) -> Stats:
    parser = Stats()
    parser.feed(html)
    return parser


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_page_shows_the_numbers_it_is_given() -> None:
    stats = stats_of(render_status_page(view()))
    assert stats.attributes["ready"]["data-value"] == "ready"
    assert stats.values["ready"] == "Ready"
    assert stats.values["rules_version"] == "2026-12-saas+7a1c5c53"
    assert stats.values["events"] == "1,467,063"  # every digit, as a person reads it
    assert stats.values["events_per_second"] == "812.2"
    assert number(stats.values["lag"]) == 1_207
    assert number(stats.values["invalid_events"]) == 12
    assert number(stats.values["offers"]) == 42
    # Triggers of the rules in order, with none yet shown as 0, then ones from older rules.
    assert {k: number(v) for k, v in stats.values.items() if k.startswith("offers_by_trigger")} == {
        "offers_by_trigger:seats-80": 40, "offers_by_trigger:seats-100": 0,
        "offers_by_trigger:retired-trigger": 2,
    }


def test_the_page_refreshes_itself_and_loads_nothing_from_elsewhere() -> None:
    html = render_status_page(view())
    assert f'<meta http-equiv="refresh" content="{REFRESH_S}">' in html
    assert "<script" not in html
    assert not re.search(r"<link|src=|@import|url\(", html)
    assert re.findall(r'href="([^"]*)"', html) == ["/status", "/metrics"]  # its own endpoints


def test_a_starting_worker_says_so() -> None:
    stats = stats_of(render_status_page(view(ready=False, lag={}, events_per_second=None)))
    assert stats.attributes["ready"]["data-value"] == "starting"
    assert stats.values["events_per_second"] == "-"
    assert number(stats.values["lag"]) == 0


def test_names_from_the_rules_are_escaped() -> None:
    html = render_status_page(view(rules_version="<b>v1</b>", triggers=['x"><script>']))
    assert "<b>v1</b>" not in html and "&lt;b&gt;v1&lt;/b&gt;" in html
    assert "<script>" not in html


def test_each_minute_gets_a_bar_and_minutes_without_data_only_a_pale_baseline() -> None:
    html = render_status_page(view())
    events_row = re.search(r"<th scope=\"row\">Events</th><td>(.*?)</td>", html)
    assert events_row is not None
    svg = events_row.group(1)
    assert svg.count('class="base none"') == 2  # the two minutes before the worker started
    assert re.findall(r"<title>([^<]*)</title>", svg) == [
        "09:02 UTC: 20", "09:03 UTC: 30", "09:04 UTC: 40"]


# -- in Chromium -------------------------------------------------------------

CHROMIUM_FLAGS = [
    # As root Chromium needs --no-sandbox; the rest keep it off this machine's closed network.
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]
WINDOW = (1280, 900)
READY_GREEN = (0x1F, 0x9D, 0x55)  # .badge.ready
BAR_BLUE = (0x35, 0x66, 0xD6)  # svg.bars rect


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed here where missing (as root, with the network to
    Debian's mirror); otherwise the test is skipped and says how to get it."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("needs headless Chromium: `apt-get install -y chromium` (Debian) as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    for attempt in ([install], [["apt-get", "update"], install]):
        done = None
        for command in attempt:
            done = subprocess.run(command, env=env, capture_output=True, timeout=900)
            if done.returncode != 0:
                break
        found = shutil.which("chromium")
        if found:
            return found
    tail = done.stderr.decode(errors="replace")[-300:] if done else ""
    pytest.skip(f"could not install Chromium with apt-get (offline?): {tail}")


def run_chromium(binary: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="upsell-chromium-") as profile:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, timeout=60, check=True)


@pytest.fixture
def worker(kafka: KafkaUnderTest, topic_prefix: str) -> Iterator[tuple[int, str]]:
    """A worker process with ingest on (its web port, its events topic)."""
    port = free_port()
    env = {
        **os.environ, **topic_env(settings_for(kafka, topic_prefix, partitions=2).topics),
        "UPSELL_GROUP_ID": f"{topic_prefix}-group", "UPSELL_SESSION_TIMEOUT_MS": "6000",
        "UPSELL_INGEST_TOKEN": "page-test-token",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker", "--bootstrap-servers",
         kafka.bootstrap_servers, "--rules", str(EXAMPLE_RULES), "--web-port", str(port),
         "--clock", "event"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield port, f"{topic_prefix}-events"
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.timeout(900)  # the first run may install Chromium
def test_the_page_in_chromium_shows_the_live_numbers(
    chromium: str, kafka: KafkaUnderTest, worker: tuple[int, str], tmp_path: Path
) -> None:
    port, events_topic = worker
    _wait(lambda: worker_status(port).get("ready") is True, 60, "the worker to be ready")
    # Valid events through the worker's own ingest; the bad lines straight to Kafka, so
    # that the engine dead-letters them and the DLQ count is not 0.
    lines = EXAMPLE_EVENTS.read_bytes().splitlines()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/events", data=EXAMPLE_EVENTS.read_bytes(), method="POST",
        headers={"Authorization": "Bearer page-test-token", "Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 202
        result = json.loads(reply.read())
    accepted, bad = result["accepted"], [lines[e["line"] - 1] for e in result["errors"]]
    assert bad
    asyncio.run(send_lines(kafka.bootstrap_servers, events_topic, bad))

    def settled() -> bool:
        status = worker_status(port)
        # `events` counts every record consumed, the dead-lettered too.
        return (status.get("events") == accepted + len(bad)
                and status.get("invalid_events") == len(bad)
                and bool(status.get("lag")) and sum(status["lag"].values()) == 0)

    _wait(settled, 60, "every event consumed and committed")
    status = worker_status(port)
    dom = run_chromium(chromium, "--dump-dom", f"http://127.0.0.1:{port}/").stdout.decode()
    assert _shown(worker_status(port)) == _shown(status)  # still settled: the page saw these
    stats = stats_of(dom)
    assert stats.attributes["ready"]["data-value"] == "ready" and status["ready"] is True
    assert stats.values["rules_version"] == status["rules_version"]
    assert number(stats.values["events"]) == status["events"] == accepted + len(bad)
    assert number(stats.values["invalid_events"]) == status["invalid_events"] == len(bad)
    assert number(stats.values["lag"]) == sum(status["lag"].values())
    assert number(stats.values["offers"]) == status["offers"] > 0
    shown = {k.split(":", 1)[1]: number(v) for k, v in stats.values.items()
             if k.startswith("offers_by_trigger:")}
    assert {t: n for t, n in shown.items() if n} == status["offers_by_trigger"]
    assert float(stats.values["events_per_second"]) > 0

    screenshot = tmp_path / "status.png"
    run_chromium(chromium, f"--screenshot={screenshot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                 f"http://127.0.0.1:{port}/")
    assert screenshot.stat().st_size > 0
    with Image.open(screenshot) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=WINDOW[0] * WINDOW[1])
    assert colours is not None and len(colours) > 50  # text and tiles, not a blank page
    count = {colour: n for n, colour in colours}
    assert count.get(READY_GREEN, 0) > 200  # the Ready badge is drawn
    assert count.get(BAR_BLUE, 0) > 20  # and this minute's bars


def _shown(status: dict[str, Any]) -> dict[str, Any]:
    """The /status fields the page shows."""
    fields = ("ready", "rules_version", "events", "invalid_events", "lag", "offers",
              "offers_by_trigger")
    return {name: status.get(name) for name in fields}


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)
