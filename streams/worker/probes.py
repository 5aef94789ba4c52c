"""/livez and /readyz: the engine's health facts judged against the bounds of
HealthSettings.

Liveness answers "would a restart help?": only if the engine has failed or its
loop is stuck. Waiting is not stuck: for a rebalance step (a restore can take
minutes) or for a broker that does not answer (a restart would wait too), so a
rebalance or an outage never gets the pod killed. Readiness answers "is this
worker doing its job now?": connected, the broker answering recently, its
partitions assigned and restored, and not too far behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.runtime.health import EngineHealth
from streams.runtime.settings import HealthSettings


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks.values())

    def body(self) -> dict[str, Any]:
        """The JSON answer: which check fails, and why."""
        return {
            "status": "ok" if self.ok else "failing",
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in self.checks.items()},
        }


def liveness(health: EngineHealth, bounds: HealthSettings) -> Verdict:
    return Verdict({"engine": _not_failed(health), "loop": _loop_turns(health, bounds)})


def readiness(health: EngineHealth, bounds: HealthSettings) -> Verdict:
    return Verdict({
        "engine": _not_failed(health),
        "broker": _broker_answers(health, bounds),
        "partitions": _partitions_held(health),
        "lag": _lag_bounded(health, bounds),
    })


def _not_failed(health: EngineHealth) -> Check:
    if health.failed is None:
        return Check(True, "running")
    return Check(False, f"stopped on {health.failed.type}; the worker is exiting")


def _broker_silent(health: EngineHealth, bounds: HealthSettings) -> bool:
    return health.broker_silent_s is not None and health.broker_silent_s > bounds.broker_stale_s


def _loop_turns(health: EngineHealth, bounds: HealthSettings) -> Check:
    idle = health.loop_idle_s
    if idle is None:
        return Check(True, "not started yet (connecting or waiting for the broker)")
    if idle <= bounds.stall_s:
        return Check(True, f"turned {idle:.1f} s ago")
    if health.rebalancing:
        return Check(True, f"waiting {idle:.0f} s for a rebalance step (a restore)")
    if _broker_silent(health, bounds) or not health.connected:
        return Check(True, f"waiting {idle:.0f} s for the broker")
    return Check(False, f"has not turned for {idle:.0f} s while the broker answers "
                        f"(bound UPSELL_HEALTH_STALL_S={bounds.stall_s:g})")


def _broker_answers(health: EngineHealth, bounds: HealthSettings) -> Check:
    if not health.connected or health.broker_silent_s is None:
        return Check(False, "not connected yet")
    silent = health.broker_silent_s
    if _broker_silent(health, bounds):
        return Check(False, f"no answer for {silent:.0f} s "
                            f"(bound UPSELL_HEALTH_BROKER_STALE_S={bounds.broker_stale_s:g})")
    return Check(True, f"answered {silent:.1f} s ago")


def _partitions_held(health: EngineHealth) -> Check:
    if health.ready:
        return Check(True, "assigned and restored")
    if health.rebalancing:
        return Check(False, "rebalancing (revoking, or restoring state)")
    return Check(False, "waiting for an assignment from the group")


def _lag_bounded(health: EngineHealth, bounds: HealthSettings) -> Check:
    if bounds.max_lag == 0:
        return Check(True, f"{health.lag} records behind (no bound)")
    if health.lag <= bounds.max_lag:
        return Check(True, f"{health.lag} records behind")
    return Check(False, f"{health.lag} records behind "
                        f"(bound UPSELL_HEALTH_MAX_LAG={bounds.max_lag})")
