"""The engine's counters, served as Prometheus text by the worker's /metrics.

Plain ints and Counters updated on the hot path (a dict increment each), and
rendered only when scraped. Labels are trigger ids, guard names and partition
numbers: bounded sets, never account ids or event contents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from triggers.tally import Tally


@dataclass
class EngineMetrics:
    started_at: float = field(default_factory=time.time)
    events: int = 0
    invalid: int = 0  # sent to the dead-letter topic
    decisions: Tally = field(default_factory=Tally)
    replayed: int = 0  # records at or below the offset already applied (after a restart)
    forwarded: int = 0  # events on a partition their account does not hash to
    checkpoints: int = 0
    checkpoint_seconds: float = 0.0  # the last one
    last_checkpoint_at: float = 0.0
    changelog_records: int = 0
    restored_accounts: int = 0
    restore_seconds: float = 0.0
    accounts: int = 0
    lag: dict[int, int] = field(default_factory=dict)  # partition -> records behind

    def render(self) -> str:
        """Prometheus text exposition format."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, values: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP upsell_{name} {help_text}")
            lines.append(f"# TYPE upsell_{name} {kind}")
            lines.extend(f"upsell_{name}{labels} {value:g}" for labels, value in values)

        metric("events_total", "counter", "Events consumed.", [("", self.events)])
        metric("events_invalid_total", "counter", "Events sent to the dead-letter topic.",
               [("", self.invalid)])
        decisions = self.decisions
        metric("events_duplicate_total", "counter", "Events whose id was already applied.",
               [("", decisions.duplicates)])
        metric("events_replayed_total", "counter", "Records skipped as already applied.",
               [("", self.replayed)])
        metric("events_forwarded_total", "counter",
               "Events forwarded to their account's partition.", [("", self.forwarded)])
        metric("events_ignored_total", "counter", "Valid events the rules cannot use.",
               [(f'{{reason="{_escape(r)}"}}', n) for r, n in sorted(decisions.ignored.items())])
        metric("offers_total", "counter", "Offers published, by trigger.",
               [(f'{{trigger="{_escape(t)}"}}', n) for t, n in sorted(decisions.offers.items())])
        metric("offers_suppressed_total", "counter", "Offers held back, by guard.",
               [(f'{{guard="{_escape(g)}"}}', n) for g, n in sorted(decisions.suppressed.items())])
        metric("conversions_total", "counter", "Offers converted by an upgrade, by trigger.",
               [(f'{{trigger="{_escape(t)}"}}', n)
                for t, n in sorted(decisions.conversions.items())])
        metric("checkpoints_total", "counter", "Checkpoints committed.", [("", self.checkpoints)])
        metric("checkpoint_duration_seconds", "gauge", "Duration of the last checkpoint.",
               [("", self.checkpoint_seconds)])
        metric("last_checkpoint_timestamp_seconds", "gauge", "When the last checkpoint ended.",
               [("", self.last_checkpoint_at)])
        metric("changelog_records_total", "counter", "State records written.",
               [("", self.changelog_records)])
        metric("accounts", "gauge", "Accounts held by this worker.", [("", self.accounts)])
        metric("restore_duration_seconds", "gauge", "Duration of the last state restore.",
               [("", self.restore_seconds)])
        metric("consumer_lag", "gauge",
               "Records past the committed offset of each assigned partition.",
               [(f'{{partition="{p}"}}', n) for p, n in sorted(self.lag.items())])
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
