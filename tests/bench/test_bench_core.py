"""`make bench-core` at a tiny size: every section of its report is there, and
what it decides is what the engine decides (the offline replay on as many
partitions). Not a performance test."""

from __future__ import annotations

from typing import Any

import pytest

from bench import bench_core
from bench.workload import BEFORE_TIME_RULES, RULES, expected_offers, make_events

EVENTS, ACCOUNTS = 6_000, 600
SWEEP_SIZES, SWEEP_DUE, SWEEP_ROUNDS = (400, 2_000), 40, 2


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return bench_core.run(EVENTS, ACCOUNTS, SWEEP_SIZES, SWEEP_DUE, SWEEP_ROUNDS)


@pytest.mark.parametrize(("name", "rules"), [("before-time", BEFORE_TIME_RULES), ("rules", RULES)])
def test_each_rule_set_decides_what_the_engine_decides(
    figures: dict[str, Any], name: str, rules: str
) -> None:
    variant = figures["variants"][name]
    expected = expected_offers(make_events(EVENTS, ACCOUNTS), bench_core.PARTITIONS, rules)
    assert (variant["offers"], variant["timed_offers"]) == (expected.total, expected.timed)
    assert variant["accounts"] == ACCOUNTS and variant["seconds"] > 0


def test_the_example_rules_wake_accounts_and_the_old_ones_do_not(figures: dict[str, Any]) -> None:
    assert figures["variants"]["rules"]["wakes"] > 0
    assert figures["variants"]["before-time"]["wakes"] == 0
    assert figures["variants"]["baseline"]["offers"] == 0


def test_state_sizes_are_ordered_and_a_record_holds_its_state(figures: dict[str, Any]) -> None:
    for sizes in figures["state_size"].values():
        assert sizes["accounts"] == ACCOUNTS
        for part in ("state", "record"):
            spread = sizes[part]
            assert 0 < spread["p50"] <= spread["p99"] <= spread["max"]
            assert 0 < spread["mean"] <= spread["max"]
        assert sizes["record"]["mean"] > sizes["state"]["mean"]


def test_the_sweep_wakes_exactly_the_due_accounts(figures: dict[str, Any]) -> None:
    assert [size["accounts"] for size in figures["sweep"]] == list(SWEEP_SIZES)
    for size in figures["sweep"]:
        assert size["scheduled"] == size["accounts"]  # every account has a due time
        assert size["offers"] == SWEEP_DUE * SWEEP_ROUNDS  # one renewal offer per due account
        assert len(size["sweep_s"]) == len(size["index_s"]) == SWEEP_ROUNDS
        assert size["reschedule_s"] > 0 and size["has_due_s"] > 0


def test_report_has_every_section(figures: dict[str, Any]) -> None:
    text = bench_core.render(figures)
    for row in ("baseline", "decode", "before-time", "rules / before-time", "peak RSS",
                "bytes per account", "rules state", "before-time record", "sweep",
                "us per due account", "reschedule"):
        assert row in text
