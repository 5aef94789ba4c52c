"""Compiled `when:` conditions: each leaf over the state, what is unknown is false,
composites to any depth, when a condition changes with no event, what it reads."""

import itertools
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from schemas.conditions import Condition
from tests.factories import Account, book, fired, held
from triggers.state import AccountState
from triggers.when import DAY, Compiled, Reads, compile_when

CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)
RULES = book().rules
T = 1_800_000_000.0  # "now" in these tests


def when(text: str) -> Compiled:
    return compile_when(CONDITION.validate_python(yaml.safe_load(text)), RULES)


def account(**fields: Any) -> AccountState:
    state = AccountState("acme", plan="basic")
    for name, value in fields.items():
        setattr(state, name, value)
    return state


# -- attributes ------------------------------------------------------------------

def test_attribute_equals_and_in() -> None:
    payroll = account(attributes={"industry": "payroll"})
    assert when("{attribute: industry, equals: payroll}").holds(payroll, T)
    assert not when("{attribute: industry, equals: retail}").holds(payroll, T)
    assert when("{attribute: industry, in: [accounting, payroll]}").holds(payroll, T)
    assert not when("{attribute: industry, in: [accounting, retail]}").holds(payroll, T)


def test_attribute_bounds_include_their_ends() -> None:
    at_least = when("{attribute: employees, at_least: 10}")
    at_most = when("{attribute: employees, at_most: 10}")
    assert at_least.holds(account(attributes={"employees": 10}), T)
    assert not at_least.holds(account(attributes={"employees": 9}), T)
    assert at_most.holds(account(attributes={"employees": 10}), T)
    assert not at_most.holds(account(attributes={"employees": 11}), T)


def test_a_missing_attribute_is_false_for_every_test_but_absence() -> None:
    nothing = account()
    for text in ("{attribute: industry, equals: payroll}", "{attribute: industry, in: [payroll]}",
                 "{attribute: employees, at_least: 0}", "{attribute: employees, at_most: 100}",
                 "{attribute: industry, present: true}"):
        assert not when(text).holds(nothing, T), text
    assert when("{attribute: industry, present: false}").holds(nothing, T)
    assert when("{not: {attribute: industry, equals: payroll}}").holds(nothing, T)


def test_values_compare_with_their_types() -> None:
    assert not when("{attribute: beta, equals: 1}").holds(account(attributes={"beta": True}), T)
    assert not when("{attribute: beta, equals: true}").holds(account(attributes={"beta": 1}), T)
    assert when("{attribute: seats_bought, equals: 40}").holds(
        account(attributes={"seats_bought": 40}), T)
    assert not when("{attribute: tier, equals: '40'}").holds(
        account(attributes={"tier": 40}), T)
    # A boolean or text is not a number to compare.
    assert not when("{attribute: beta, at_least: 0}").holds(account(attributes={"beta": True}), T)
    assert not when("{attribute: tier, at_least: 0}").holds(account(attributes={"tier": "9"}), T)


# -- plan, tenure, MRR ------------------------------------------------------------

def test_plan_in() -> None:
    condition = when("{plan: {in: [basic, pro]}}")
    assert condition.holds(account(plan="pro"), T)
    assert not condition.holds(account(plan="enterprise"), T)
    assert not condition.holds(account(plan=None), T)


def test_tenure_counts_whole_days_both_bounds_included() -> None:
    condition = when("{tenure_days: {at_least: 90, at_most: 180}}")
    signed = T - 200 * DAY
    state = account(signed_up_at=signed)
    assert not condition.holds(state, signed + 90 * DAY - 1)
    assert condition.holds(state, signed + 90 * DAY)
    assert condition.holds(state, signed + 181 * DAY - 1)  # still day 180
    assert not condition.holds(state, signed + 181 * DAY)


def test_tenure_changes_at_its_bounds_and_never_after() -> None:
    condition = when("{tenure_days: {at_least: 90, at_most: 180}}")
    signed = T
    state = account(signed_up_at=signed)
    assert condition.changes_at(state, signed + DAY) == signed + 90 * DAY
    assert condition.changes_at(state, signed + 90 * DAY) == signed + 181 * DAY
    assert condition.changes_at(state, signed + 181 * DAY) is None
    assert when("{tenure_days: {at_least: 30}}").changes_at(state, signed + 31 * DAY) is None


def test_tenure_without_a_signup_is_false_and_never_changes_alone() -> None:
    condition = when("{tenure_days: {at_least: 0}}")
    assert not condition.holds(account(), T)
    assert condition.changes_at(account(), T) is None


def test_mrr_adds_the_owned_add_ons_prices() -> None:
    at_least_35 = when("{mrr: {at_least: 35}}")
    assert not at_least_35.holds(account(plan="basic"), T)  # 20
    assert at_least_35.holds(account(plan="basic", addons=("reports",)), T)  # 20 + 15
    assert when("{mrr: {at_most: 20}}").holds(account(plan="basic"), T)


def test_an_unknown_price_makes_mrr_unknown() -> None:
    any_mrr = when("{mrr: {at_least: 0}}")
    assert not any_mrr.holds(account(plan="enterprise"), T)  # custom price
    assert not any_mrr.holds(account(plan="gold"), T)  # not in the catalogue
    assert not any_mrr.holds(account(plan="basic", addons=("unknown",)), T)
    assert not any_mrr.holds(account(plan=None), T)
    assert when("{not: {mrr: {at_least: 0}}}").holds(account(plan="enterprise"), T)


# -- metrics ---------------------------------------------------------------------

def test_a_gauge_level_and_its_percent_of_the_plan_limit() -> None:
    state = account(gauges={"seats": (5.0, T)})
    assert when("{metric: seats, at_least: 5}").holds(state, T)
    assert not when("{metric: seats, at_least: 6}").holds(state, T)
    assert when("{metric: seats, at_most: 5}").holds(state, T)
    assert when("{metric: seats, percent_of_limit_at_least: 50}").holds(state, T)  # 5 of 10
    assert not when("{metric: seats, percent_of_limit_at_least: 51}").holds(state, T)
    assert when("{metric: seats, percent_of_limit_at_most: 50}").holds(state, T)
    assert not when("{metric: seats, percent_of_limit_at_least: 10}").holds(
        account(plan="enterprise", gauges={"seats": (5.0, T)}), T)  # unlimited


def test_a_gauge_never_read_is_false() -> None:
    assert not when("{metric: seats, at_most: 100}").holds(account(), T)
    assert not when("{metric: seats, percent_of_limit_at_most: 100}").holds(account(), T)


def test_a_counter_is_its_total_this_period_and_zero_once_it_ends() -> None:
    state = account(counters={"api_calls": (600.0, T - DAY, T + DAY)})
    condition = when("{metric: api_calls, percent_of_limit_at_least: 50}")  # 500 of 1000
    assert condition.holds(state, T)
    assert condition.changes_at(state, T) == T + DAY
    assert not condition.holds(state, T + DAY)
    assert condition.changes_at(state, T + DAY) is None
    assert when("{metric: api_calls, at_most: 0}").holds(account(), T)  # nothing used yet


# -- recent events and scores -------------------------------------------------------

def test_an_event_within_days_holds_until_the_days_are_over() -> None:
    condition = when("{event: milestone, name: project_completed, within_days: 7}")
    state = account(signals_at={"milestone:project_completed": T})
    assert condition.holds(state, T + 7 * DAY - 1)
    assert not condition.holds(state, T + 7 * DAY)
    assert condition.changes_at(state, T + DAY) == T + 7 * DAY
    assert condition.changes_at(state, T + 7 * DAY) is None
    assert not condition.holds(account(), T)
    assert not when("{event: feature_gate, name: project_completed, within_days: 7}").holds(state, T)
    assert when("{event: feature_gate, name: sso, within_days: 7}").holds(
        account(signals_at={"feature:sso": T}), T)


def test_a_score_counts_if_recent_enough() -> None:
    condition = when("{score: nps, at_least: 9, within_days: 90}")
    assert condition.holds(account(scores={"nps": (9.0, T)}), T + 89 * DAY)
    assert not condition.holds(account(scores={"nps": (9.0, T)}), T + 90 * DAY)
    assert not condition.holds(account(scores={"nps": (8.0, T)}), T)
    assert not condition.holds(account(scores={"csat": (10.0, T)}), T)
    assert condition.changes_at(account(scores={"nps": (9.0, T)}), T) == T + 90 * DAY
    assert condition.changes_at(account(scores={"nps": (8.0, T)}), T) is None
    assert when("{score: nps, at_most: 6}").holds(account(scores={"nps": (3.0, 0.0)}), T)


# -- composites ----------------------------------------------------------------------

DEEP = """
not:
  any:
    - not:
        all:
          - {attribute: industry, equals: payroll}
          - any:
              - {attribute: employees, at_least: 10}
              - not:
                  {plan: {in: [basic]}}
    - {attribute: churned, present: true}
"""


def deep_reference(industry: str | None, employees: int | None, plan: str, churned: bool) -> bool:
    big = employees is not None and employees >= 10
    return not ((not (industry == "payroll" and (big or plan != "basic"))) or churned)


@pytest.mark.parametrize(
    ("industry", "employees", "plan", "churned"),
    list(itertools.product(["payroll", "retail", None], [9, 10, None], ["basic", "pro"],
                           [False, True])),
)
def test_a_deep_not_any_tree_holds_as_its_logic_says(
    industry: str | None, employees: int | None, plan: str, churned: bool
) -> None:
    attributes: dict[str, str | float | bool] = {}
    if industry is not None:
        attributes["industry"] = industry
    if employees is not None:
        attributes["employees"] = employees
    if churned:
        attributes["churned"] = True
    state = account(plan=plan, attributes=attributes)
    assert when(DEEP).holds(state, T) == deep_reference(industry, employees, plan, churned)


def test_a_composite_changes_at_the_earliest_of_its_children() -> None:
    state = account(signed_up_at=T, signals_at={"milestone:done": T}, scores={"nps": (10.0, T)})
    condition = when("""
any:
  - {tenure_days: {at_least: 30}}
  - not: {event: milestone, name: done, within_days: 7}
  - all: [{attribute: industry, equals: payroll}, {score: nps, at_least: 9, within_days: 3}]
""")
    assert condition.changes_at(state, T) == T + 3 * DAY
    assert condition.changes_at(state, T + 4 * DAY) == T + 7 * DAY
    assert condition.changes_at(state, T + 8 * DAY) == T + 30 * DAY
    assert condition.changes_at(state, T + 31 * DAY) is None
    assert when("{attribute: industry, equals: payroll}").changes_at(state, T) is None


def test_a_tree_reports_what_it_reads() -> None:
    condition = when("""
all:
  - {attribute: industry, equals: payroll}
  - any: [{event: milestone, name: done, within_days: 7}, {event: churn_signal, name: x, within_days: 1}]
  - not: {score: csat, at_least: 4}
  - {metric: seats, at_least: 3}
""")
    assert condition.reads == Reads(
        signals=frozenset({"milestone:done", "churn_signal:x"}), scores=frozenset({"csat"}),
        metrics=frozenset({"seats"}),
    )
    assert when("{tenure_days: {at_least: 5}}").reads == Reads()  # always kept


# -- the rule book keeps what the conditions read ----------------------------------------

SEATS_AFTER_MILESTONE = """
triggers:
  - id: seats-80
    kind: usage_threshold
    metric: seats
    levels: [80]
    offer: {kind: upsell, recommend: next_tier}
    when: {event: milestone, name: project_completed, within_days: 7}
  - id: promoter-tenure
    kind: tenure
    from_days: 30
    to_days: 60
    offer: {kind: upsell, recommend: next_tier}
    when:
      all: [{score: nps, at_least: 9}, {metric: api_calls, at_least: 1}]
"""


def test_the_rule_book_tracks_the_signals_scores_and_timer_metrics_conditions_read() -> None:
    rules = book(triggers=SEATS_AFTER_MILESTONE)
    assert rules.tracked_signals == frozenset({"milestone:project_completed"})
    assert rules.tracked_scores == frozenset({"nps"})
    assert set(rules.timer_whens) == {"api_calls"}  # read by the timed trigger only
    assert book().tracked_signals == frozenset() and book().timer_whens == {}


def test_a_trigger_fires_only_while_its_when_holds() -> None:
    customer = Account(book(triggers=SEATS_AFTER_MILESTONE))
    assert fired(customer.seats(8, day=0)) == []  # no milestone yet: the crossing waits
    customer.send("milestone", day=1, name="project_completed")
    assert customer.state.signals_at == {"milestone:project_completed": customer.state.seen_at}
    assert fired(customer.seats(8, day=2)) == ["seats-80"]


def test_a_when_that_no_longer_holds_holds_the_trigger_back() -> None:
    customer = Account(book(triggers=SEATS_AFTER_MILESTONE))
    customer.send("milestone", day=0, name="project_completed")
    result = customer.seats(8, day=7)  # 7 days later: no longer "within 7 days"
    assert fired(result) == [] and held(result) == []


TENURE_IN_SEGMENTS = """
triggers:
  - id: after-45-days
    kind: tenure
    from_days: 30
    to_days: 90
    offer: {kind: upsell, recommend: next_tier}
    when: {tenure_days: {at_least: 45}}
  - id: payroll-only
    kind: tenure
    from_days: 30
    to_days: 90
    offer: {kind: upsell, recommend: next_tier}
    when: {attribute: industry, equals: payroll}
"""


def test_a_timed_trigger_is_due_when_its_when_starts_to_hold() -> None:
    customer = Account(book(triggers=TENURE_IN_SEGMENTS), signed_up_day=-1)
    signed = customer.state.signed_up_at
    assert signed is not None
    # Moved from day 30 to day 45 by the tenure bound; none until the industry is known.
    assert customer.state.timers == {"after-45-days": signed + 45 * DAY}
    customer.send("account", day=0, industry="payroll")
    assert customer.state.timers == {"after-45-days": signed + 45 * DAY,
                                     "payroll-only": signed + 30 * DAY}
