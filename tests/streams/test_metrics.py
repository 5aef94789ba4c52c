"""/metrics: exact numbers in Prometheus text, bounded labels, no event content;
and a live worker's /metrics against what the replay of the same events says."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import get_args

import orjson
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from schemas.events import EVENT_TYPES
from schemas.outcomes import OutcomeStatus
from streams.cli.replay import ReplaySummary, replay
from streams.runtime.counters import (
    APPLIED,
    CHECKPOINT_BUCKETS,
    DEAD_LETTERED,
    DUPLICATE,
    FORWARDED,
    FUTURE,
    IGNORED,
    INVALID,
    REPLAYED,
    UNDECODED,
    EngineMetrics,
    Histogram,
)
from streams.worker.metrics import (
    IGNORED_CATEGORIES,
    NO_TRIGGER,
    OTHER_TRIGGER,
    build_version,
    ignored_category,
    render_metrics,
)
from tests.factories import example_book
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import EXAMPLE_EVENTS, send_lines, worker_process

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
TRIGGERS = ("seats-80", "seats-100")


def scrape(metrics: EngineMetrics, ready: bool = True) -> tuple[str, Samples]:
    """The text and its samples: (sample name, sorted labels) -> value."""
    text = render_metrics(metrics, "rules-v7", TRIGGERS, ready).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def labelled(samples: Samples, name: str) -> dict[tuple[str, ...], float]:
    """One family's samples by their label values, in label-name order."""
    return {tuple(value for _, value in labels): value
            for (sample, labels), value in samples.items() if sample == name}


def test_large_counts_are_exact() -> None:
    metrics = EngineMetrics(changelog_records=123_456_789_012)
    metrics.events_by_outcome[APPLIED]["usage"] = 1_467_063
    text, samples = scrape(metrics)
    assert samples[("upsell_events_total", (("outcome", APPLIED), ("type", "usage")))] == 1_467_063
    assert samples[("upsell_changelog_records_total", ())] == 123_456_789_012
    assert 'upsell_events_total{outcome="applied",type="usage"} 1.467063e+06\n' in text
    assert "1.46706e+06" not in text  # Go's float format, every digit kept


def test_timestamp_is_exact_to_the_microsecond() -> None:
    metrics = EngineMetrics(last_checkpoint_at=1_772_442_000.123456)
    _, samples = scrape(metrics)
    assert samples[("upsell_last_checkpoint_timestamp_seconds", ())] == 1_772_442_000.123456


def test_histogram_buckets_are_cumulative_and_a_value_on_a_bound_counts_in_it() -> None:
    metrics = EngineMetrics()
    for seconds in (0.004, 0.005, 0.0421, 0.7, 99.0):
        metrics.checkpoint_durations.observe(seconds)
    _, samples = scrape(metrics)
    buckets = {dict(labels)["le"]: value for (name, labels), value in samples.items()
               if name == "upsell_checkpoint_duration_seconds_bucket"}
    assert list(buckets) == [*(str(bound) for bound in CHECKPOINT_BUCKETS), "+Inf"]
    assert buckets["0.005"] == 2 and buckets["0.05"] == 3 and buckets["0.5"] == 3
    assert buckets["1.0"] == 4 and buckets["30.0"] == 4 and buckets["+Inf"] == 5
    assert samples[("upsell_checkpoint_duration_seconds_count", ())] == 5
    assert samples[("upsell_checkpoint_duration_seconds_sum", ())] == 0.004 + 0.005 + 0.0421 + 0.7 + 99.0


def test_histogram_counts_each_observation_once() -> None:
    histogram = Histogram((1.0, 2.0))
    for value in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        histogram.observe(value)
    assert histogram.counts == [2, 2, 2] and histogram.count == 6 and histogram.sum == 10.5


def test_events_by_type_and_outcome_and_dead_letters_by_reason() -> None:
    metrics = EngineMetrics()
    outcomes = metrics.events_by_outcome
    outcomes[APPLIED].update({"usage": 5, "nps": 2})
    outcomes[DUPLICATE]["usage"] = 1
    outcomes[IGNORED]["usage"] = 3
    outcomes[REPLAYED]["subscription"] = 4
    outcomes[FORWARDED]["ticket"] = 6
    outcomes[DEAD_LETTERED].update({UNDECODED: 7, "usage": 1})
    metrics.dead_letters.update({INVALID: 7, FUTURE: 1})
    _, samples = scrape(metrics)
    events = labelled(samples, "upsell_events_total")
    assert {(outcome, t) for (outcome, t), n in events.items() if outcome == APPLIED} == {
        (APPLIED, t) for t in EVENT_TYPES}  # every type of the contract, from the start
    assert {key: n for key, n in events.items() if n} == {
        (APPLIED, "nps"): 2, (APPLIED, "usage"): 5, (DUPLICATE, "usage"): 1,
        (IGNORED, "usage"): 3, (REPLAYED, "subscription"): 4, (FORWARDED, "ticket"): 6,
        (DEAD_LETTERED, UNDECODED): 7, (DEAD_LETTERED, "usage"): 1,
    }
    assert labelled(samples, "upsell_dead_letters_total") == {(INVALID,): 7, (FUTURE,): 1}
    assert (metrics.invalid, metrics.replayed, metrics.forwarded) == (8, 4, 6)


def test_offers_by_trigger_and_kind_held_back_by_guard_and_trigger() -> None:
    metrics = EngineMetrics(lag={0: 5, 3: 7}, lag_seconds={0: 0.0, 3: 12.5})
    metrics.offers_sent.update({("seats-80", "upsell"): 3, ("seats-100", "upsell"): 1})
    metrics.held_back.update({("cooldown", "seats-80"): 4, ("onboarding", "seats-100"): 2})
    metrics.decisions.conversions["seats-80"] = 2
    _, samples = scrape(metrics)
    assert labelled(samples, "upsell_offers_total") == {
        ("upsell", "seats-80"): 3, ("upsell", "seats-100"): 1}
    assert labelled(samples, "upsell_offers_held_back_total") == {
        ("cooldown", "seats-80"): 4, ("onboarding", "seats-100"): 2}
    assert labelled(samples, "upsell_conversions_total") == {("seats-80",): 2}
    assert labelled(samples, "upsell_consumer_lag") == {("0",): 5, ("3",): 7}
    assert labelled(samples, "upsell_consumer_lag_seconds") == {("0",): 0.0, ("3",): 12.5}


def test_outcomes_and_expansion_mrr_by_trigger() -> None:
    metrics = EngineMetrics()
    metrics.decisions.outcomes.update({("seats-80", "shown"): 4, ("seats-80", "converted"): 2,
                                       ("retired-1", "declined"): 1,
                                       ("unknown_offer", "unknown_offer"): 3})
    metrics.decisions.expansion_mrr.update({"seats-80": 156.0, "retired-1": 15.5})
    text, samples = scrape(metrics)
    assert labelled(samples, "upsell_offer_outcomes_total") == {
        ("shown", "seats-80"): 4, ("converted", "seats-80"): 2, ("declined", OTHER_TRIGGER): 1,
        ("unknown_offer", NO_TRIGGER): 3}
    assert labelled(samples, "upsell_expansion_mrr_total") == {
        ("seats-80",): 156.0, (OTHER_TRIGGER,): 15.5}
    assert "retired" not in text


def test_a_trigger_the_rules_no_longer_have_counts_under_one_label() -> None:
    metrics = EngineMetrics()
    metrics.offers_sent.update({("seats-80", "upsell"): 3, ("retired-1", "upsell"): 2,
                                ("retired-2", "upsell"): 5})
    metrics.decisions.conversions.update({"retired-1": 1, "retired-2": 1})
    text, samples = scrape(metrics)
    assert "retired" not in text
    assert labelled(samples, "upsell_offers_total") == {
        ("upsell", "seats-80"): 3, ("upsell", OTHER_TRIGGER): 7}
    assert labelled(samples, "upsell_conversions_total") == {(OTHER_TRIGGER,): 2}


def test_names_from_events_never_become_label_values() -> None:
    metrics = EngineMetrics()
    metrics.decisions.ignored.update({
        "unknown metric 'secret-metric\"\n'": 2,
        "unknown metric 'another-secret'": 1,
        "unknown plan 'secret-plan'": 5,
        "metric 'seats' is a gauge: send 'value', not 'delta'": 3,
        "metric 'api_calls' is a counter: send 'delta', not 'value'": 4,
        "a reason added later, naming 'secret-thing'": 6,
    })
    text, samples = scrape(metrics)
    assert "secret" not in text
    ignored = {reason: value for (reason,), value in
               labelled(samples, "upsell_events_ignored_total").items()}
    assert ignored == {"unknown_metric": 3, "unknown_plan": 5, "delta_sent_for_gauge": 3,
                       "value_sent_for_counter": 4, "other": 6}
    assert set(ignored) <= IGNORED_CATEGORIES


def test_ignored_category_is_one_of_a_fixed_few() -> None:
    assert ignored_category("unknown metric 'x'") == "unknown_metric"
    assert ignored_category("") == "other"


def test_build_rules_and_readiness() -> None:
    _, samples = scrape(EngineMetrics(), ready=False)
    assert samples[("upsell_build_info", (("version", build_version()),))] == 1
    assert samples[("upsell_rules_info", (("version", "rules-v7"),))] == 1
    assert samples[("upsell_ready", ())] == 0
    assert scrape(EngineMetrics(), ready=True)[1][("upsell_ready", ())] == 1


def test_every_family_is_declared_before_it_has_a_sample() -> None:
    text, _ = scrape(EngineMetrics())
    for family in ("upsell_events_total counter", "upsell_offers_total counter",
                   "upsell_offers_held_back_total counter", "upsell_dead_letters_total counter",
                   "upsell_consumer_lag gauge", "upsell_consumer_lag_seconds gauge",
                   "upsell_event_to_offer_seconds histogram",
                   "upsell_restore_duration_seconds histogram"):
        assert f"# TYPE {family}\n" in text


def test_process_metrics_are_included() -> None:
    text, _ = scrape(EngineMetrics())
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "python_info", "python_gc_collections_total"):
        assert name in text


# --- a live worker -------------------------------------------------------------

LINES = EXAMPLE_EVENTS.read_bytes().splitlines()
REPLAY = ReplaySummary()  # as the worker decides them: 2 partitions, the event clock
for _ in replay(LINES, example_book(), REPLAY, partitions=2):
    pass
# An event dated past the bound after its record's production: dead-lettered.
FROM_THE_FUTURE = orjson.dumps({
    "event_id": "future-1", "account_id": "acct-future", "type": "usage", "metric": "seats",
    "value": 3, "occurred_at": "2999-01-01T00:00:00Z",
})


def _values(samples: list[Sample], name: str, *labels: str) -> Counter[tuple[str, ...]]:
    """A family's values by the given labels, summed over the others."""
    values: Counter[tuple[str, ...]] = Counter()
    for sample in samples:
        if sample.name == name:
            values[tuple(sample.labels[label] for label in labels)] += sample.value
    return values


def test_a_live_worker_counts_what_the_replay_decides(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    book = example_book()
    kinds = {trigger.id: trigger.offer.kind for trigger in book.rules.triggers}
    with worker_process(kafka.bootstrap_servers, topic_prefix) as worker:
        asyncio.run(send_lines(kafka.bootstrap_servers, worker.events_topic,
                               [*LINES, FROM_THE_FUTURE]))
        deadline = time.monotonic() + 60
        samples = worker.scrape()
        while (_values(samples, "upsell_events_total").total() < len(LINES) + 1
               or sum(_values(samples, "upsell_consumer_lag").values()) > 0
               or _values(samples, "upsell_checkpoint_duration_seconds_count")[()] == 0):
            assert time.monotonic() < deadline, "the worker did not take every event"
            time.sleep(0.3)
            samples = worker.scrape()

    events = _values(samples, "upsell_events_total", "outcome")
    bad = len(REPLAY.bad_lines)
    assert events == {
        (APPLIED,): REPLAY.events - REPLAY.decisions.duplicates - REPLAY.decisions.ignored.total(),
        (DUPLICATE,): REPLAY.decisions.duplicates, (DEAD_LETTERED,): bad + 1,
        **({(IGNORED,): REPLAY.decisions.ignored.total()} if REPLAY.decisions.ignored else {}),
    }
    assert _values(samples, "upsell_events_total", "outcome", "type")[
        (DEAD_LETTERED, UNDECODED)] == bad
    assert _values(samples, "upsell_dead_letters_total", "reason") == {(INVALID,): bad,
                                                                      (FUTURE,): 1}
    offers = _values(samples, "upsell_offers_total", "trigger", "kind")
    assert offers == {(trigger, kinds[trigger]): n for trigger, n in REPLAY.decisions.offers.items()}
    outcomes = _values(samples, "upsell_offer_outcomes_total", "trigger", "status")
    assert outcomes == {key: n for key, n in REPLAY.decisions.outcomes.items()}
    assert {status for _, status in outcomes} >= {"made", "held_out", "shown", "converted"}
    assert _values(samples, "upsell_expansion_mrr_total", "trigger") == {
        (trigger,): mrr for trigger, mrr in REPLAY.decisions.expansion_mrr.items()}
    held_back = _values(samples, "upsell_offers_held_back_total", "guard")
    assert held_back == {(guard,): n for guard, n in REPLAY.decisions.suppressed.items()}
    assert set(_values(samples, "upsell_offers_held_back_total", "trigger")) <= {
        (trigger,) for trigger in kinds}
    # Every offer an event caused was observed once; the sweep's offers have no event.
    caused = _values(samples, "upsell_event_to_offer_seconds_count")[()]
    assert 0 < caused <= sum(offers.values())
    assert _values(samples, "upsell_event_to_offer_seconds_bucket", "le")[("+Inf",)] == caused
    assert _values(samples, "upsell_consumer_lag_seconds", "partition") == {("0",): 0, ("1",): 0}
    assert _values(samples, "upsell_partitions_assigned")[()] == 2
    assert _values(samples, "upsell_rebalances_total")[()] >= 1
    assert _values(samples, "upsell_restore_duration_seconds_count")[()] >= 1
    assert _values(samples, "upsell_rules_info", "version") == {(book.version,): 1}
    assert _values(samples, "upsell_build_info", "version") == {(build_version(),): 1}
    assert _values(samples, "upsell_ready")[()] == 1
    assert _values(samples, "process_resident_memory_bytes")[()] > 0
    # No account id, event id or other string taken from an event is a label value.
    label_values = {value for sample in samples for value in sample.labels.values()}
    # (The outcome statuses are the contract's fixed set; responses name four of them.)
    statuses = set(get_args(OutcomeStatus))
    assert not label_values & _strings_in([*LINES, FROM_THE_FUTURE]) - set(kinds) - statuses


def _strings_in(lines: list[bytes]) -> set[str]:
    """Every string value of the lines that parse as JSON objects, but the event
    types: those are labels by design."""
    strings: set[str] = set()
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        strings |= {v for k, v in event.items() if isinstance(v, str) and k != "type"}
    return strings
