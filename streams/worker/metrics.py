"""/metrics: the engine's counters as Prometheus text, read at scrape time.

The runtime keeps plain counters (`EngineMetrics`: an int or dict increment on
the hot path); this collector turns them into metric families only when
Prometheus asks, and prometheus_client writes the exposition text, so numbers
are exact (a counter of 1,467,063 is `1.467063e+06`, never a rounded `%g`).

Labels are bounded sets: trigger ids from the rules file (a trigger the rules
no longer have counts under `OTHER_TRIGGER`), guard names from the code, event
types from the contract, partitions from the topic layout. The decision core's
reasons for ignoring an event name the event's metric or plan, so they are
folded into a few fixed categories here: an event can never add a label value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from streams.runtime.counters import OUTCOMES, EngineMetrics, Histogram

#: What /metrics answers with: the classic text format that generate_latest writes.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: The trigger label of counts whose trigger is not in the rules now (a rules
#: change removed it; an offer converted long after). Not a legal trigger id.
NO_TRIGGER = "(none)"  # a response to an offer the engine does not know
OTHER_TRIGGER = "(not in rules)"

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


def build_version() -> str:
    """The installed distribution's version ("0+unknown" when run from a source tree never installed)."""
    try:
        return package_version("upsell")
    except PackageNotFoundError:
        return "0+unknown"


class EngineCollector(Collector):
    """One scrape of an EngineMetrics, with the version and trigger ids of the
    rules in force and the worker's readiness then; copies no counts."""

    def __init__(self, metrics: EngineMetrics, rules_version: str, trigger_ids: Collection[str],
                 ready: bool) -> None:
        self._metrics = metrics
        self._rules_version = rules_version
        self._trigger_ids = trigger_ids
        self._ready = ready

    def collect(self) -> Iterator[Metric]:
        yield from self._info()
        yield from self._events()
        yield from self._offers()
        yield from self._state()

    def _info(self) -> Iterator[Metric]:
        build = InfoMetricFamily("upsell_build", "The running engine.")
        build.add_metric([], {"version": build_version()})
        yield build
        rules = InfoMetricFamily("upsell_rules", "The rules file in force.")
        rules.add_metric([], {"version": self._rules_version})
        yield rules
        yield _gauge("ready", "1 when this worker is ready to serve its partitions, else 0.",
                     1.0 if self._ready else 0.0)

    def _events(self) -> Iterator[Metric]:
        m = self._metrics
        events = CounterMetricFamily(
            "upsell_events", "Records consumed, by event type and what became of them "
            "(type 'unknown': the record is not an event of the contract).",
            labels=["type", "outcome"])
        for outcome in OUTCOMES:
            by_type = m.events_by_outcome[outcome]
            for event_type in sorted(by_type):
                events.add_metric([event_type, outcome], by_type[event_type])
        yield events
        yield _labelled(CounterMetricFamily, "dead_letters",
                        "Records sent to the dead-letter topic, by kind of reason.", ["reason"],
                        {(reason,): n for reason, n in m.dead_letters.items()})
        ignored: Counter[tuple[str, ...]] = Counter()
        for reason, count in m.decisions.ignored.items():
            ignored[ignored_category(reason),] += count
        yield _labelled(CounterMetricFamily, "events_ignored",
                        "Valid events the rules cannot use, by kind of reason.", ["reason"], ignored)

    def _offers(self) -> Iterator[Metric]:
        m, known = self._metrics, self._trigger_ids

        def trigger(trigger_id: str) -> str:
            return trigger_id if trigger_id in known else OTHER_TRIGGER

        yield _labelled(CounterMetricFamily, "offers", "Offers sent, by trigger and kind.",
                        ["trigger", "kind"], _folded(
                            ((trigger(t), kind), n) for (t, kind), n in m.offers_sent.items()))
        yield _labelled(CounterMetricFamily, "offers_held_back",
                        "Offers a trigger made that a guard held back, by guard and trigger.",
                        ["guard", "trigger"], _folded(
                            ((guard, trigger(t)), n) for (guard, t), n in m.held_back.items()))
        yield _labelled(CounterMetricFamily, "conversions",
                        "Offers converted by an upgrade, by trigger.", ["trigger"], _folded(
                            ((trigger(t),), n) for t, n in m.decisions.conversions.items()))
        yield _labelled(CounterMetricFamily, "offer_outcomes",
                        "What became of offers, by trigger and status (made, held_out, shown, "
                        "accepted, declined, dismissed, converted, expired, withdrawn, churned; "
                        "unknown_offer under trigger '(none)').", ["trigger", "status"], _folded(
                            ((NO_TRIGGER if status == "unknown_offer" else trigger(t), status), n)
                            for (t, status), n in m.decisions.outcomes.items()))
        mrr: dict[tuple[str, ...], float] = {}
        for t, amount in m.decisions.expansion_mrr.items():
            mrr[trigger(t),] = mrr.get((trigger(t),), 0.0) + amount
        yield _labelled(CounterMetricFamily, "expansion_mrr",
                        "Monthly recurring revenue credited to offers that converted (price "
                        "after minus before, from the plan catalogue), by trigger.",
                        ["trigger"], mrr)
        yield _counter("offers_not_resent",
                       "Offers decided again after a crash and found already sent.",
                       m.offers_not_resent)
        yield _histogram("event_to_offer_seconds",
                         "From the timestamp of the record that caused an offer to the offer "
                         "handed to the producer.", m.event_to_offer)

    def _state(self) -> Iterator[Metric]:
        m = self._metrics
        yield _counter("timer_wakes", "Accounts woken by the sweep at a due time.", m.timer_wakes)
        yield _counter("timer_errors", "Due times that could not be decided (a bug); retried.",
                       m.timer_errors)
        yield _gauge("timers_scheduled", "Accounts with a due time, on the partitions held.",
                     m.timers_scheduled)
        yield _labelled(GaugeMetricFamily, "partition_clock_seconds",
                        "Each partition's clock (event time, or the wall clock once caught up).",
                        ["partition"], {(str(p),): t for p, t in m.clocks.items()})
        yield _counter("checkpoints", "Checkpoints committed.", m.checkpoints)
        yield _histogram("checkpoint_duration_seconds",
                         "Checkpoints, from start to durable (outputs acknowledged, state "
                         "written, offsets committed).", m.checkpoint_durations)
        yield _gauge("last_checkpoint_timestamp_seconds", "When the last checkpoint ended.",
                     m.last_checkpoint_at)
        yield _counter("changelog_records", "State records written.", m.changelog_records)
        yield _gauge("accounts", "Accounts held by this worker.", m.accounts)
        yield _gauge("partitions_assigned", "Partitions held by this worker.", m.partitions)
        yield _counter("rebalances", "Partition assignments this worker received.", m.rebalances)
        yield _histogram("restore_duration_seconds",
                         "Taking assigned partitions: their state read back from the changelog.",
                         m.restore_durations)
        yield _labelled(GaugeMetricFamily, "consumer_lag",
                        "Records past the committed offset of each assigned partition.",
                        ["partition"], {(str(p),): n for p, n in m.lag.items()})
        yield _labelled(GaugeMetricFamily, "consumer_lag_seconds",
                        "0 when every fetched record of the partition is decided, else the age "
                        "of the last record decided: an upper bound of the oldest waiting "
                        "record's age.", ["partition"],
                        {(str(p),): s for p, s in m.lag_seconds.items()})
        yield _counter("rules_switches", "Rules versions switched to without a restart.",
                       m.rules_switches)
        yield _counter("rules_rejected", "Rules versions refused (a bad record on the rules "
                       "topic, a broken file at SIGHUP); the running rules stayed.",
                       m.rules_rejected)


def render_metrics(metrics: EngineMetrics, rules_version: str, trigger_ids: Collection[str],
                   ready: bool) -> bytes:
    """The /metrics body: the engine's counters, and this process's CPU, memory,
    fds, garbage collections and Python version. A fresh registry per scrape
    costs microseconds and always reads what the worker holds now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(metrics, rules_version, trigger_ids, ready))
    ProcessCollector(registry=registry)
    registry.register(PLATFORM_COLLECTOR)
    registry.register(GC_COLLECTOR)
    body: bytes = generate_latest(registry)
    return body


def _folded(counts: Iterable[tuple[tuple[str, ...], int]]) -> Counter[tuple[str, ...]]:
    """Counts with the same labels after folding, added up."""
    folded: Counter[tuple[str, ...]] = Counter()
    for labels, count in counts:
        folded[labels] += count
    return folded


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"upsell_{name}", help_text, value=value)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"upsell_{name}", help_text, value=value)


def _histogram(name: str, help_text: str, histogram: Histogram) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip([*histogram.bounds, float("inf")], histogram.counts, strict=True):
        cumulative += count
        buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
    return HistogramMetricFamily(f"upsell_{name}", help_text, buckets=buckets,
                                 sum_value=histogram.sum)


def _labelled(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    help_text: str,
    labels: Sequence[str],
    values: Mapping[tuple[str, ...], float],
) -> CounterMetricFamily | GaugeMetricFamily:
    metric = family(f"upsell_{name}", help_text, labels=list(labels))
    for key in sorted(values):
        metric.add_metric(list(key), values[key])
    return metric
