"""/metrics: exact numbers in Prometheus text, bounded labels, no event content."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streams.runtime.counters import EngineMetrics
from streams.worker.metrics import IGNORED_CATEGORIES, ignored_category, render_metrics


def scrape(metrics: EngineMetrics) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The text and its samples: (sample name, sorted labels) -> value."""
    text = render_metrics(metrics).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def test_large_counts_are_exact() -> None:
    metrics = EngineMetrics(events=1_467_063, changelog_records=123_456_789_012)
    text, samples = scrape(metrics)
    assert samples[("upsell_events_total", ())] == 1_467_063
    assert samples[("upsell_changelog_records_total", ())] == 123_456_789_012
    assert "upsell_events_total 1.467063e+06\n" in text  # Go's float format, every digit kept
    assert "1.46706e+06" not in text


def test_timestamp_is_exact_to_the_microsecond() -> None:
    metrics = EngineMetrics(last_checkpoint_at=1_772_442_000.123456, checkpoint_seconds=0.0421)
    _, samples = scrape(metrics)
    assert samples[("upsell_last_checkpoint_timestamp_seconds", ())] == 1_772_442_000.123456
    assert samples[("upsell_checkpoint_duration_seconds", ())] == 0.0421


def test_labels_are_trigger_guard_and_partition() -> None:
    metrics = EngineMetrics(lag={0: 5, 3: 7})
    metrics.decisions.offers.update({"seats-80": 3, "seats-100": 1})
    metrics.decisions.conversions["seats-80"] = 2
    metrics.decisions.suppressed["cooldown"] = 4
    _, samples = scrape(metrics)
    assert samples[("upsell_offers_total", (("trigger", "seats-80"),))] == 3
    assert samples[("upsell_offers_total", (("trigger", "seats-100"),))] == 1
    assert samples[("upsell_conversions_total", (("trigger", "seats-80"),))] == 2
    assert samples[("upsell_offers_suppressed_total", (("guard", "cooldown"),))] == 4
    assert samples[("upsell_consumer_lag", (("partition", "0"),))] == 5
    assert samples[("upsell_consumer_lag", (("partition", "3"),))] == 7


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
    ignored = {dict(labels)["reason"]: value for (name, labels), value in samples.items()
               if name == "upsell_events_ignored_total"}
    assert ignored == {"unknown_metric": 3, "unknown_plan": 5, "delta_sent_for_gauge": 3,
                       "value_sent_for_counter": 4, "other": 6}
    assert set(ignored) <= IGNORED_CATEGORIES


def test_ignored_category_is_one_of_a_fixed_few() -> None:
    assert ignored_category("unknown metric 'x'") == "unknown_metric"
    assert ignored_category("") == "other"


def test_every_metric_the_deploy_files_and_dashboards_read_is_served() -> None:
    metrics = EngineMetrics(events=3, invalid=1, replayed=2, forwarded=1, checkpoints=4, accounts=9)
    metrics.decisions.duplicates = 1
    text, samples = scrape(metrics)
    for name in ("upsell_events_total", "upsell_events_invalid_total",
                 "upsell_events_duplicate_total", "upsell_events_replayed_total",
                 "upsell_events_forwarded_total", "upsell_checkpoints_total",
                 "upsell_changelog_records_total", "upsell_accounts",
                 "upsell_restore_duration_seconds"):
        assert (name, ()) in samples, name
    assert samples[("upsell_accounts", ())] == 9
    for family in ("upsell_offers_total counter", "upsell_events_ignored_total counter",
                   "upsell_consumer_lag gauge"):
        assert f"# TYPE {family}\n" in text  # declared even before it has a sample


def test_process_metrics_are_included() -> None:
    text, _ = scrape(EngineMetrics())
    assert "process_cpu_seconds_total" in text
    assert "process_resident_memory_bytes" in text
