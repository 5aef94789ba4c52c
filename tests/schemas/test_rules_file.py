"""Rules files: the example loads; every mistake names the file, the line and the field."""

import pytest

from schemas.rules_file import RulesError, load_rules, parse_rules
from tests.factories import EXAMPLE_RULES


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    return str(caught.value).splitlines()


GOOD = EXAMPLE_RULES.read_text()


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_example_rules_load_with_the_documented_ids() -> None:
    rules = load_rules(EXAMPLE_RULES).rules
    assert set(rules.plans) == {"basic", "pro", "enterprise"}
    assert rules.plans["basic"].price_monthly == 20
    assert rules.plans["basic"].limits == {
        "seats": 10, "storage_gb": 50, "projects": 5, "api_calls": 10_000,
    }
    assert rules.plans["pro"].limits["api_calls"] == 200_000
    assert rules.plans["enterprise"].limits == {}
    assert rules.metrics["api_calls"].kind == "counter"
    ids = {t.id for t in rules.triggers}
    assert {"seats-80", "seats-100", "analytics-gate", "nps-promoter", "project-completed"} <= ids
    guards = rules.guards
    assert guards.onboarding_grace_days == 14
    assert guards.account_cap is not None and guards.account_cap.per_days == 7
    assert guards.silence_after_response["declined"] == 30
    assert guards.suppress_while_ticket_open == ["high", "urgent"]
    assert guards.low_score is not None and guards.low_score.at_most == 6


def test_misspelled_field_is_refused_with_its_line() -> None:
    text = GOOD.replace("    priority: 90", "    priorty: 90")
    assert problems(text) == [
        f"rules.yaml:{line_of(text, 'priorty')}: triggers.1.priorty: "
        "unknown field (check its spelling)"
    ]


def test_wrong_type_is_refused_with_its_line() -> None:
    text = GOOD.replace("onboarding_grace_days: 14", "onboarding_grace_days: two weeks")
    [problem] = problems(text)
    assert problem.startswith(
        f"rules.yaml:{line_of(text, 'two weeks')}: guards.onboarding_grace_days: "
    )


def test_unknown_metric_in_a_trigger_is_refused_with_its_line() -> None:
    text = GOOD.replace("metric: storage_gb\n    levels", "metric: storage\n    levels")
    [problem] = problems(text)
    assert problem == (
        f"rules.yaml:{line_of(text, 'metric: storage')}: triggers.2.metric: unknown metric "
        "'storage' (known: api_calls, projects, seats, storage_gb)"
    )


def test_unknown_plan_and_add_on_references_are_refused() -> None:
    text = GOOD.replace("upgrade_to: enterprise", "upgrade_to: platinum").replace(
        '"addon:portfolio_reports"', '"addon:reports"'
    )
    found = problems(text)
    assert any("plans.pro.upgrade_to: unknown plan 'platinum'" in p for p in found)
    assert any("offer.recommend: unknown add-on 'reports'" in p for p in found)


def test_every_error_is_reported_not_just_the_first() -> None:
    text = GOOD.replace("    priority: 90", "    priorty: 90").replace(
        "at_least: 9", "at_least: nine"
    )
    assert len(problems(text)) == 2


def test_duplicate_trigger_ids_are_refused() -> None:
    text = GOOD.replace("id: seats-100", "id: seats-80")
    assert any("duplicate trigger id 'seats-80'" in p for p in problems(text))


def test_levels_out_of_order_are_refused() -> None:
    text = GOOD.replace("levels: [80]", "levels: [90, 80]", 1)
    assert any("levels must be unique and in increasing order" in p for p in problems(text))


def test_looping_upgrade_path_is_refused() -> None:
    text = GOOD.replace("    features: [advanced_analytics, priority_support, sso, audit_log]",
                        "    features: [sso]\n    upgrade_to: basic")
    assert any("upgrade path loops" in p for p in problems(text))


def test_broken_yaml_is_refused_with_its_line() -> None:
    [problem] = problems("version: x\nplans: [\n")
    assert problem.startswith("rules.yaml:3: not valid YAML")


def test_missing_file_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules("/nonexistent/rules.yaml")


def test_rules_version_changes_with_the_content() -> None:
    a = parse_rules(GOOD)
    b = parse_rules(GOOD + "\n# a comment\n")
    assert a.rules.version == b.rules.version
    assert a.version != b.version


def test_a_forecast_that_could_never_fire_is_refused() -> None:
    text = GOOD.replace("    min_samples: 5\n", "    min_samples: 40\n")
    assert text != GOOD
    [problem] = problems(text)
    assert "min_samples cannot exceed window_days" in problem


def test_structural_and_reference_errors_come_out_together() -> None:
    """One round: a misspelled field does not hide an unknown metric elsewhere, nor one
    in the same trigger, and a plan that is itself invalid is not reported as unknown."""
    text = (GOOD.replace("    priority: 90", "    priorty: 90")  # trigger 1
            .replace("metric: storage_gb\n    levels", "metric: storage\n    levels")  # trigger 2
            .replace("name: Professional", "name: [Professional]"))  # plans.pro is invalid
    found = problems(text)
    assert [p.split(": ")[1] for p in found] == ["plans.pro.name", "triggers.1.priorty",
                                                 "triggers.2.metric"], found
    assert "unknown metric 'storage'" in found[2]

    seats_100 = "    metric: seats\n    offer: {kind: upsell, recommend: next_tier}\n    priority: 90"
    assert seats_100 in GOOD
    found = problems(GOOD.replace(seats_100, seats_100.replace("seats", "seatz")
                                  .replace("priority", "priorty")))
    assert [p.split(": ")[1] for p in found] == ["triggers.1.metric", "triggers.1.priorty"], found


def test_invalid_triggers_without_ids_are_not_reported_as_duplicates() -> None:
    text = GOOD.replace("  - id: seats-80\n", "  - id: [seats-80]\n").replace(
        "  - id: seats-100\n", "  - id: {seats: 100}\n")
    found = problems(text)
    assert len(found) == 2 and all(": triggers." in p and ".id: " in p for p in found), found
