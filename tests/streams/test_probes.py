"""/livez and /readyz verdicts from the engine's health facts (no broker needed)."""

from __future__ import annotations

from dataclasses import replace

from streams.runtime.health import EngineHealth, ErrorNote
from streams.runtime.settings import HealthSettings
from streams.worker.probes import Verdict, liveness, readiness

BOUNDS = HealthSettings()  # stale 10 s, stall 120 s, max lag 250k
RUNNING = EngineHealth(connected=True, failed=None, ready=True, rebalancing=False,
                       loop_idle_s=0.2, broker_silent_s=1.0, lag=0)


def failing(verdict: Verdict) -> set[str]:
    return {name for name, check in verdict.checks.items() if not check.ok}


def test_a_running_engine_is_live_and_ready() -> None:
    assert liveness(RUNNING, BOUNDS).ok
    ready = readiness(RUNNING, BOUNDS)
    assert ready.ok and ready.body()["status"] == "ok"


def test_a_rebalance_makes_it_unready_but_leaves_it_live() -> None:
    health = replace(RUNNING, ready=False, rebalancing=True, loop_idle_s=300)  # a long restore
    assert liveness(health, BOUNDS).ok
    verdict = readiness(health, BOUNDS)
    assert failing(verdict) == {"partitions"}
    assert verdict.body()["checks"]["partitions"]["detail"].startswith("rebalancing")


def test_a_silent_broker_makes_it_unready_past_the_bound_but_leaves_it_live() -> None:
    assert readiness(replace(RUNNING, broker_silent_s=9.9), BOUNDS).ok
    silent = replace(RUNNING, broker_silent_s=10.5, loop_idle_s=400)  # the loop waits on it
    verdict = readiness(silent, BOUNDS)
    assert failing(verdict) == {"broker"}
    assert "no answer for 10 s" in verdict.checks["broker"].detail
    assert "UPSELL_HEALTH_BROKER_STALE_S=10" in verdict.checks["broker"].detail
    assert liveness(silent, BOUNDS).ok


def test_while_connecting_it_is_live_and_not_ready() -> None:
    connecting = EngineHealth(connected=False, failed=None, ready=False, rebalancing=False,
                              loop_idle_s=None, broker_silent_s=None, lag=0)
    assert liveness(connecting, BOUNDS).ok
    assert failing(readiness(connecting, BOUNDS)) == {"broker", "partitions"}


def test_a_stuck_loop_with_the_broker_answering_fails_liveness() -> None:
    stuck = replace(RUNNING, loop_idle_s=121)
    verdict = liveness(stuck, BOUNDS)
    assert failing(verdict) == {"loop"}
    assert "UPSELL_HEALTH_STALL_S=120" in verdict.checks["loop"].detail


def test_a_failed_engine_fails_both() -> None:
    failed = replace(RUNNING, failed=ErrorNote("CommitFailedError", "", 0.0))
    assert failing(liveness(failed, BOUNDS)) == {"engine"}
    assert "engine" in failing(readiness(failed, BOUNDS))


def test_lag_past_the_bound_makes_it_unready_and_0_means_no_bound() -> None:
    behind = replace(RUNNING, lag=250_001)
    assert failing(readiness(behind, BOUNDS)) == {"lag"}
    assert readiness(replace(RUNNING, lag=250_000), BOUNDS).ok
    assert readiness(behind, HealthSettings(max_lag=0)).ok
