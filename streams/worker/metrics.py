"""/metrics: the engine's counters as Prometheus text, read at scrape time.

The runtime keeps plain counters (`EngineMetrics`: an int or dict increment on
the hot path); this collector turns them into metric families only when
Prometheus asks, and prometheus_client writes the exposition text, so numbers
are exact (a counter of 1,467,063 is `1.467063e+06`, never a rounded `%g`).

Labels are bounded sets: trigger ids and guard names come from the rules file,
partitions from the topic layout. The decision core's reasons for ignoring an
event name the event's metric or plan, so they are folded into a few fixed
categories here: an event can never add a label value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from streams.runtime.counters import EngineMetrics

#: What /metrics answers with: the classic text format that generate_latest writes.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: Ignored-event category by the reason's fixed text (triggers/decide.py), first match wins.
_IGNORED_PREFIXES = (("unknown metric ", "unknown_metric"), ("unknown plan ", "unknown_plan"))
_IGNORED_SUFFIXES = (
    ("send 'delta', not 'value'", "value_sent_for_counter"),
    ("send 'value', not 'delta'", "delta_sent_for_gauge"),
)
IGNORED_CATEGORIES = frozenset(
    [category for _, category in _IGNORED_PREFIXES + _IGNORED_SUFFIXES] + ["other"]
)


def ignored_category(reason: str) -> str:
    """A fixed label value for a reason; the reason itself may quote the event."""
    for prefix, category in _IGNORED_PREFIXES:
        if reason.startswith(prefix):
            return category
    for suffix, category in _IGNORED_SUFFIXES:
        if reason.endswith(suffix):
            return category
    return "other"


class EngineCollector(Collector):
    """Reads one EngineMetrics at each scrape; holds no copy of its own."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m, decisions = self._metrics, self._metrics.decisions
        yield _counter("events", "Events consumed.", m.events)
        yield _counter("events_invalid", "Events sent to the dead-letter topic.", m.invalid)
        yield _counter("events_duplicate", "Events whose id was already applied.",
                       decisions.duplicates)
        yield _counter("events_replayed", "Records skipped as already applied.", m.replayed)
        yield _counter("events_forwarded", "Events forwarded to their account's partition.",
                       m.forwarded)
        ignored: Counter[str] = Counter()
        for reason, count in decisions.ignored.items():
            ignored[ignored_category(reason)] += count
        yield _labelled(CounterMetricFamily, "events_ignored",
                        "Valid events the rules cannot use, by kind of reason.", "reason", ignored)
        yield _labelled(CounterMetricFamily, "offers", "Offers published, by trigger.", "trigger",
                        decisions.offers)
        yield _labelled(CounterMetricFamily, "offers_suppressed", "Offers held back, by guard.",
                        "guard", decisions.suppressed)
        yield _labelled(CounterMetricFamily, "conversions",
                        "Offers converted by an upgrade, by trigger.", "trigger",
                        decisions.conversions)
        yield _counter("offers_not_resent",
                       "Offers decided again after a crash and found already sent.",
                       m.offers_not_resent)
        yield _counter("timer_wakes", "Accounts woken by the sweep at a due time.", m.timer_wakes)
        yield _counter("timer_errors", "Due times that could not be decided (a bug); retried.",
                       m.timer_errors)
        yield _gauge("timers_scheduled", "Accounts with a due time, on the partitions held.",
                     m.timers_scheduled)
        yield _labelled(GaugeMetricFamily, "partition_clock_seconds",
                        "Each partition's clock (event time, or the wall clock once caught up).",
                        "partition", {str(p): t for p, t in m.clocks.items()})
        yield _counter("checkpoints", "Checkpoints committed.", m.checkpoints)
        yield _gauge("checkpoint_duration_seconds", "Duration of the last checkpoint.",
                     m.checkpoint_seconds)
        yield _gauge("last_checkpoint_timestamp_seconds", "When the last checkpoint ended.",
                     m.last_checkpoint_at)
        yield _counter("changelog_records", "State records written.", m.changelog_records)
        yield _gauge("accounts", "Accounts held by this worker.", m.accounts)
        yield _gauge("restore_duration_seconds", "Duration of the last state restore.",
                     m.restore_seconds)
        yield _labelled(GaugeMetricFamily, "consumer_lag",
                        "Records past the committed offset of each assigned partition.",
                        "partition", {str(p): n for p, n in m.lag.items()})
        yield InfoMetricFamily("upsell_rules", "The rules version this worker decides with.",
                               value={"version": m.rules_version})
        yield _counter("rules_switches", "Rules versions switched to without a restart.",
                       m.rules_switches)
        yield _counter("rules_rejected", "Rules versions refused (a bad record on the rules "
                       "topic, a broken file at SIGHUP); the running rules stayed.",
                       m.rules_rejected)


def metrics_registry(metrics: EngineMetrics) -> CollectorRegistry:
    """A registry with the engine's counters and this process's CPU, memory and fds."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(metrics))
    ProcessCollector(registry=registry)
    return registry


def render_metrics(metrics: EngineMetrics) -> bytes:
    """The /metrics body. A fresh registry per scrape costs microseconds and always
    reads the EngineMetrics the engine holds now."""
    body: bytes = generate_latest(metrics_registry(metrics))
    return body


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"upsell_{name}", help_text, value=value)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"upsell_{name}", help_text, value=value)


def _labelled(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    help_text: str,
    label: str,
    values: Mapping[str, float],
) -> CounterMetricFamily | GaugeMetricFamily:
    metric = family(f"upsell_{name}", help_text, labels=[label])
    for key in sorted(values):
        metric.add_metric([key], values[key])
    return metric
