"""Every phase of the engine benchmark (bench/), at about 1% of its normal size:
the figures it would print are there and sane. Not a performance test: on a
loaded machine the rates are whatever they are, only their consistency counts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bench import report
from bench.bench_engine import Sizes, run_phases
from bench.harness import PARTITIONS, Cluster
from bench.workload import BEFORE_TIME_RULES, RULES, expected_offers, latency_events, throughput_events
from streams.broker import EmbeddedBroker

SIZES = Sizes(events=5_000, accounts=1_000, rate=400, latency_seconds=1.0,
              settle=0.3, restore_hold=0.3, compare_rules=str(BEFORE_TIME_RULES))
# A short session timeout: the embedded broker holds a group join for about half of it.
ENGINE = {"session_timeout_ms": 2_000, "heartbeat_interval_ms": 200}


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return throughput_events(SIZES.events, SIZES.accounts)


@pytest_asyncio.fixture(scope="module")
async def results(broker: EmbeddedBroker, lines: list[bytes]) -> AsyncIterator[dict[str, Any]]:
    cluster = Cluster.of(broker, f"smoke-{time.strftime('%H%M%S')}", ENGINE)
    progress: list[str] = []
    started = time.perf_counter()
    phases = await run_phases(cluster, SIZES, lines, progress.append)
    assert time.perf_counter() - started < 60, progress
    yield {"meta": {"cores": 2, "python": "3.11", "partitions": PARTITIONS,
                    "accounts": SIZES.accounts, "events": SIZES.events, "engine_start": "paused",
                    "load_before": 0.0, "load_after": 0.0},
           "phases": phases}


def ordered(spread: dict[str, Any], count: int | None = None) -> None:
    """A spread of figures (harness.spread): percentiles in order, all measured."""
    assert spread["count"] > 0 if count is None else spread["count"] == count
    assert 0 <= spread["p50"] <= spread["p95"] <= spread["p99"] <= spread["max"]


def test_prefill(results: dict[str, Any]) -> None:
    filled = results["phases"]["prefill"]
    assert filled["events"] == SIZES.events
    assert sum(filled["counts"]) == SIZES.events
    assert len(filled["counts"]) == PARTITIONS and all(filled["counts"])
    assert filled["batches"] >= PARTITIONS
    assert filled["events_per_s"] > 0 and filled["bytes"] > 0


def test_ceiling(results: dict[str, Any]) -> None:
    ceiling = results["phases"]["ceiling"]
    assert ceiling["count"] == SIZES.events
    assert ceiling["events_per_s"] > 0 and ceiling["cpu"] >= 0 and ceiling["peak_rss_mb"] > 0


@pytest.mark.parametrize(("name", "workers", "rules"), [
    ("engine1", 1, RULES), ("compare", 1, BEFORE_TIME_RULES), ("engine2", 2, RULES),
])
def test_engine(
    results: dict[str, Any], lines: list[bytes], name: str, workers: int, rules: Path
) -> None:
    phase = results["phases"][name]
    assert phase["workers"] == workers and phase["rules"] == str(rules)
    assert phase["events_sent"] == SIZES.events
    assert phase["committed"] == phase["produced"]
    assert sum(phase["committed"]) == SIZES.events
    assert phase["events"] == SIZES.events  # decided
    assert phase["reassigned"] == 0
    assert phase["seconds"] > 0 and phase["events_per_s"] > 0
    assert phase["cpu"] > 0 and phase["first_decided_after"] >= 0
    # The engine makes the offers the decision core makes offline on as many
    # partitions (event clock: one per partition), timed ones included, once each.
    expected = expected_offers(lines, PARTITIONS, rules)
    assert phase["offers"] == expected.total
    assert rules == BEFORE_TIME_RULES or expected.timed > 0  # the sweep has work
    assert phase["accounts"] == SIZES.accounts
    assert phase["changelog_records"] >= SIZES.accounts
    assert phase["invalid"] == phase["forwarded"] == 0
    held = [p for worker in phase["per_worker"] for p in worker["partitions"]]
    assert sorted(held) == list(range(PARTITIONS))  # each partition held by one worker
    assert len(phase["per_worker"]) == workers
    assert sum(worker["events"] for worker in phase["per_worker"]) == SIZES.events
    assert all(worker["cpu"] > 0 and worker["peak_rss_mb"] > 0 for worker in phase["per_worker"])
    ordered(phase["checkpoint_ms"])
    # Sampled every 5 ms: two checkpoints within one sample count once.
    assert phase["checkpoint_ms"]["count"] <= phase["checkpoints"]


def test_restore(results: dict[str, Any]) -> None:
    restored = results["phases"]["restore"]
    assert restored["restored_accounts"] == SIZES.accounts
    assert restored["restore_seconds"] > 0 and restored["accounts_per_s"] > 0
    assert restored["start_to_ready"] >= restored["restore_seconds"]
    assert restored["events_after"] == 0  # the committed offsets were at the end


def test_latency(results: dict[str, Any]) -> None:
    latency = results["phases"]["latency"]
    planned = latency_events(SIZES.rate, SIZES.latency_seconds)
    assert latency["events"] == len(planned)
    expected = expected_offers([line for line, _ in planned], PARTITIONS)
    assert latency["expected"] == expected.by_events > 0
    assert latency["received"] == latency["expected"]
    assert latency["received_timed"] == latency["expected_timed"] == expected.timed
    assert latency["duplicates"] == 0
    assert latency["events_per_s"] > 0
    ordered(latency["receive_ms"], latency["received"])
    ordered(latency["stamp_ms"], latency["received"])
    engine = latency["engine"]
    assert engine["events"] == len(planned)
    assert engine["offers"] == latency["expected"] + latency["expected_timed"]
    ordered(engine["age_ms"], len(planned))
    assert engine["age_p99_by_window"] and all(p99 >= 0 for p99 in engine["age_p99_by_window"])
    ordered(engine["checkpoint_ms"])


def test_report_from_saved_json(results: dict[str, Any], tmp_path: Path) -> None:
    saved = tmp_path / "bench.json"
    report.save(results, saved)
    table = report.render(report.load(saved))
    assert table == report.render(results)
    for row in ("prefill", "ceiling (aiokafka, no work)", "engine x1", "engine x2",
                "engine x1, before-time.yaml", "engine x1 vs before-time.yaml",
                "state restore", "latency load", "event -> offer received", "target: p99"):
        assert row in table
    assert "MISMATCH" not in table
