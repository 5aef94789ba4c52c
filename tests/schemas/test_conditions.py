"""`when:` conditions in the rules file: each leaf and composite reads as written;
a mistake anywhere in a tree names the file, the line and the path to it."""

import pytest

from schemas.conditions import (
    AllOf,
    AnyOf,
    AttributeCondition,
    EventCondition,
    MetricCondition,
    MrrCondition,
    NotOf,
    PlanCondition,
    ScoreCondition,
    TenureCondition,
)
from schemas.rules import SegmentTrigger
from schemas.rules_file import RulesError, parse_rules
from tests.factories import CATALOGUE


def rules_with_when(when: str, kind: str = "kind: milestone\n    name: done") -> str:
    """The test catalogue with one trigger whose `when:` is the given YAML block."""
    body = "\n".join("      " + line for line in when.strip("\n").splitlines())
    return CATALOGUE + f"""
triggers:
  - id: t
    {kind}
    offer: {{kind: upsell, recommend: next_tier}}
    when:
{body}
"""


def when_of(when: str) -> object:
    trigger = parse_rules(rules_with_when(when), "rules.yaml").rules.triggers[0]
    return trigger.when


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    return str(caught.value).splitlines()


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# -- each leaf reads as written -------------------------------------------------

def test_attribute_tests_read_as_written() -> None:
    equals = when_of("{attribute: industry, equals: payroll}")
    assert isinstance(equals, AttributeCondition) and equals.equals == "payroll"
    among = when_of("{attribute: industry, in: [payroll, accounting]}")
    assert isinstance(among, AttributeCondition) and among.in_ == ["payroll", "accounting"]
    bounded = when_of("{attribute: employees, at_least: 10, at_most: 50}")
    assert isinstance(bounded, AttributeCondition)
    assert (bounded.at_least, bounded.at_most) == (10, 50)
    present = when_of("{attribute: beta, present: false}")
    assert isinstance(present, AttributeCondition) and present.present is False


def test_an_attribute_value_keeps_its_yaml_type() -> None:
    flag = when_of("{attribute: beta, equals: true}")
    number = when_of("{attribute: seats_bought, equals: 40}")
    text = when_of("{attribute: tier, equals: '40'}")
    assert isinstance(flag, AttributeCondition) and flag.equals is True
    assert isinstance(number, AttributeCondition) and number.equals == 40.0
    assert isinstance(text, AttributeCondition) and text.equals == "40"


def test_subscription_leaves_read_as_written() -> None:
    plan = when_of("{plan: {in: [basic, pro]}}")
    assert isinstance(plan, PlanCondition) and plan.plan.in_ == ["basic", "pro"]
    tenure = when_of("{tenure_days: {at_least: 90, at_most: 180}}")
    assert isinstance(tenure, TenureCondition)
    assert (tenure.tenure_days.at_least, tenure.tenure_days.at_most) == (90, 180)
    mrr = when_of("{mrr: {at_least: 100}}")
    assert isinstance(mrr, MrrCondition) and (mrr.mrr.at_least, mrr.mrr.at_most) == (100, None)


def test_metric_and_recent_event_leaves_read_as_written() -> None:
    metric = when_of("{metric: seats, percent_of_limit_at_least: 50}")
    assert isinstance(metric, MetricCondition) and metric.percent_of_limit_at_least == 50
    event = when_of("{event: milestone, name: project_completed, within_days: 7}")
    assert isinstance(event, EventCondition)
    assert (event.event, event.name, event.within_days) == ("milestone", "project_completed", 7)
    score = when_of("{score: nps, at_least: 9, within_days: 90}")
    assert isinstance(score, ScoreCondition) and (score.at_least, score.within_days) == (9, 90)


def test_composites_nest() -> None:
    tree = when_of("""
all:
  - {attribute: industry, equals: payroll}
  - any:
      - {attribute: employees, at_least: 10}
      - not: {plan: {in: [basic]}}
""")
    assert isinstance(tree, AllOf)
    inner = tree.all[1]
    assert isinstance(inner, AnyOf) and isinstance(inner.any[1], NotOf)
    assert isinstance(inner.any[1].not_, PlanCondition)


def test_a_segment_needs_its_when() -> None:
    text = CATALOGUE + """
triggers:
  - {id: s, kind: segment, offer: {kind: upsell, recommend: next_tier}}
"""
    assert problems(text) == [f"rules.yaml:{line_of(text, 'id: s')}: triggers.0.when: "
                              "required field is missing"]
    segment = parse_rules(rules_with_when("{attribute: industry, equals: payroll}",
                                          kind="kind: segment"), "rules.yaml").rules.triggers[0]
    assert isinstance(segment, SegmentTrigger)


# -- mistakes point inside the right branch, at their line ----------------------

def test_a_typo_deep_in_an_any_names_its_path_and_line() -> None:
    text = rules_with_when("""
all:
  - {attribute: industry, equals: payroll}
  - any:
      - {attribute: employees, at_least: 10}
      - {attribute: employees, at_leest: 5}
""")
    assert problems(text) == [
        f"rules.yaml:{line_of(text, 'at_leest')}: triggers.0.when.all.1.any.1.at_leest: "
        "unknown field (check its spelling)"
    ]


def test_an_unknown_metric_in_a_not_names_its_path_and_line() -> None:
    text = rules_with_when("""
any:
  - {attribute: industry, equals: payroll}
  - not:
      not: {metric: seatz, at_least: 3}
""")
    assert problems(text) == [
        f"rules.yaml:{line_of(text, 'seatz')}: triggers.0.when.any.1.not.not.metric: "
        "unknown metric 'seatz' (known: api_calls, seats)"
    ]


def test_an_unknown_plan_names_its_position() -> None:
    text = rules_with_when("{plan: {in: [basic, gold]}}")
    assert problems(text) == [
        f"rules.yaml:{line_of(text, 'gold')}: triggers.0.when.plan.in.1: "
        "unknown plan 'gold' (known: basic, enterprise, pro)"
    ]


def test_a_map_that_is_no_condition_says_which_keys_make_one() -> None:
    text = rules_with_when("""
all:
  - {attribute: industry, equals: payroll}
  - {industry: payroll}
""")
    assert problems(text) == [
        f"rules.yaml:{line_of(text, '{industry: payroll}')}: triggers.0.when.all.1: "
        "a condition is a map with one of the keys: attribute, plan, tenure_days, mrr, "
        "metric, event, score, all, any, not"
    ]


def test_a_wrong_value_inside_a_leaf_names_the_field() -> None:
    text = rules_with_when("""
not:
  {event: milestone, name: done, within_days: soon}
""")
    [problem] = problems(text)
    assert problem.startswith(f"rules.yaml:{line_of(text, 'soon')}: triggers.0.when.not.within_days: ")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{attribute: industry}",
         "triggers.0.when: give one test of the attribute: equals, in, present, or at_least/at_most"),
        ("{attribute: industry, equals: payroll, present: true}",
         "triggers.0.when: give one test of the attribute"),
        ("{attribute: employees, at_least: 50, at_most: 10}",
         "triggers.0.when: at_least must not be greater than at_most"),
        ("{tenure_days: {}}", "triggers.0.when.tenure_days: give at_least, at_most or both"),
        ("{tenure_days: {at_least: 1.5}}", "triggers.0.when.tenure_days.at_least: "),
        ("{metric: seats}", "triggers.0.when: give at_least, at_most, percent_of_limit_at_least"),
        ("{event: signup, name: x, within_days: 7}", "triggers.0.when.event: Input should be"),
        ("{all: []}", "triggers.0.when.all: List should have at least 1 item"),
        ("{attribute: 'my trait', equals: 1}", "triggers.0.when.attribute: String should match"),
    ],
)
def test_a_leaf_that_asks_nothing_clear_is_refused(when: str, expected: str) -> None:
    [problem] = problems(rules_with_when(when))
    assert expected in problem


def test_a_test_that_can_never_hold_on_a_known_attribute_is_refused() -> None:
    text = rules_with_when("""
all:
  - {attribute: industry, at_least: 3}
  - {attribute: contract_term, in: [annual, yearly]}
""")
    assert problems(text) == [
        f"rules.yaml:{line_of(text, 'industry')}: triggers.0.when.all.0.at_least: "
        "'industry' is text: at_least and at_most compare numbers",
        f"rules.yaml:{line_of(text, 'yearly')}: triggers.0.when.all.1.in: "
        "contract_term is monthly or annual, not 'yearly'",
    ]


def test_percent_of_limit_on_a_counter_is_fine() -> None:
    tree = when_of("{metric: api_calls, percent_of_limit_at_least: 80}")
    assert isinstance(tree, MetricCondition)


def nested_nots(depth: int) -> str:
    return "{not: " * (depth - 1) + "{attribute: a, present: true}" + "}" * (depth - 1)


def test_a_tree_eight_deep_is_fine_nine_is_too_deep() -> None:
    assert when_of(nested_nots(8)) is not None
    text = rules_with_when(nested_nots(9))
    assert problems(text) == [f"rules.yaml:{line_of(text, 'when:')}: triggers.0.when: "
                              "conditions nest 9 levels deep: at most 8"]


def test_a_tree_of_more_than_64_conditions_is_refused() -> None:
    leaves = "\n".join(f"  - {{attribute: a{n}, present: true}}" for n in range(63))
    assert isinstance(when_of("any:\n" + leaves), AnyOf)  # 64 nodes with the `any`
    text = rules_with_when("any:\n" + leaves + "\n  - {attribute: a63, present: true}")
    assert problems(text) == [f"rules.yaml:{line_of(text, 'when:')}: triggers.0.when: "
                              "65 conditions in one 'when': at most 64"]
