"""Segments: the articles' cross-sell ("payroll customers once they reach 10+
employees"), once per entry, on the attributes an account event leaves; and
what an account event does to the attributes."""

import orjson
import pytest

from schemas.events import MAX_TRAITS
from tests.factories import Account, book, fired, held
from triggers.kinds.segment import ACCOUNT_CHANGED, SUBSCRIPTION_CHANGED, InSegment
from triggers.rulebook import RuleBook
from triggers.state import AccountState, encode_state

# The accounting add-on joins the catalogue's add-ons (the YAML map goes on).
PAYROLL = """
  accounting: {name: Accounting, price_monthly: 30, complements: [basic, pro]}
triggers:
  - id: payroll-accounting
    kind: segment
    when:
      all:
        - {attribute: industry, equals: payroll}
        - {attribute: employees, at_least: 10}
    offer: {kind: cross_sell, recommend: "addon:accounting"}
"""


def payroll_book(guards: str = "", triggers: str = PAYROLL) -> RuleBook:
    return book(guards=guards, triggers=triggers)


def customer(rules: RuleBook | None = None, plan: str | None = "basic",
             signed_up_day: float = -365) -> Account:
    return Account(rules or payroll_book(), plan=plan, signed_up_day=signed_up_day)


# -- the cross-sell ----------------------------------------------------------------

def test_payroll_cross_sell_fires_at_10_employees_not_at_9() -> None:
    account = customer()
    assert fired(account.send("account", day=0, industry="payroll", employees=9)) == []
    result = account.send("account", day=1, employees=10)
    assert fired(result) == ["payroll-accounting"]
    offer = result.offers[0]
    assert (offer.kind, offer.recommended.type, offer.recommended.id) == (
        "cross_sell", "addon", "accounting")


def test_the_reason_quotes_the_headcount_reached() -> None:
    result = customer().send("account", industry="payroll", employees=12)
    assert result.offers[0].reason.text == "your team has reached 12 employees"
    assert result.offers[0].reason.value == 12


def test_it_does_not_fire_for_another_industry() -> None:
    account = customer()
    assert fired(account.send("account", day=0, industry="retail", employees=50)) == []
    assert fired(account.send("account", day=1, employees=60)) == []


def test_it_sees_the_attributes_the_event_brings() -> None:
    # Both attributes arrive in one event: the segment is judged after it, not before.
    assert fired(customer().send("account", industry="payroll", employees=10)) == [
        "payroll-accounting"]


def test_it_fires_once_per_entry_and_again_after_leaving() -> None:
    account = customer()
    assert fired(account.send("account", day=0, industry="payroll", employees=12)) == [
        "payroll-accounting"]
    assert fired(account.send("account", day=1, employees=15)) == []  # still in: no repeat
    assert fired(account.send("account", day=2, traits={"crm_stage": "customer"})) == []
    assert fired(account.send("account", day=3, employees=8)) == []  # left: re-armed
    assert "payroll-accounting" not in account.state.fired_levels
    assert fired(account.send("account", day=4, employees=11)) == ["payroll-accounting"]


def test_leaving_by_another_attribute_also_re_arms_it() -> None:
    account = customer()
    account.send("account", day=0, industry="payroll", employees=12)
    account.send("account", day=1, industry="retail")
    assert fired(account.send("account", day=2, industry="payroll")) == ["payroll-accounting"]


def test_guards_still_apply_and_the_entry_waits_for_them() -> None:
    account = customer(payroll_book(guards="onboarding_grace_days: 14"), signed_up_day=-10)
    result = account.send("account", day=0, industry="payroll", employees=12)
    assert held(result) == [("payroll-accounting", "onboarding_grace")]
    # Still in the segment once the grace is over: the next change of the account fires it.
    assert fired(account.send("account", day=5, traits={"crm_stage": "customer"})) == [
        "payroll-accounting"]


def test_an_open_ticket_holds_it_back() -> None:
    account = customer(payroll_book(guards="suppress_while_ticket_open: [high]"))
    account.send("ticket", day=0, ticket_id="T1", status="opened", severity="high")
    result = account.send("account", day=1, industry="payroll", employees=12)
    assert held(result) == [("payroll-accounting", "open_ticket")]


def test_an_add_on_already_owned_is_not_offered_and_the_entry_is_used_up() -> None:
    account = customer(plan=None)
    account.send("subscription", day=-1, plan="basic", addons=["accounting"])
    result = account.send("account", day=0, industry="payroll", employees=12)
    assert held(result) == [("payroll-accounting", "nothing_to_offer")]
    assert account.state.fired_levels == {"payroll-accounting": 0}


def test_a_late_account_event_changes_nothing_and_fires_nothing() -> None:
    account = customer()
    account.send("account", day=2, industry="payroll", employees=5)
    result = account.send("account", day=1, employees=50)  # older than what was applied
    assert fired(result) == []
    assert account.state.attributes == {"industry": "payroll", "employees": 5}


# -- segments over the subscription --------------------------------------------------

PRO_TEAMS = """
triggers:
  - id: big-pro-teams
    kind: segment
    name: large Professional teams
    when:
      all:
        - {plan: {in: [pro]}}
        - {attribute: employees, at_least: 10}
    offer: {kind: cross_sell, recommend: "addon:reports"}
"""


def test_a_segment_that_reads_the_plan_is_decided_on_subscription_events() -> None:
    rules = book(triggers=PRO_TEAMS)
    assert set(rules.listeners) == {ACCOUNT_CHANGED, SUBSCRIPTION_CHANGED}
    account = customer(rules)
    assert fired(account.send("account", day=0, employees=12)) == []  # on Basic
    result = account.send("subscription", day=1, plan="pro")
    assert fired(result) == ["big-pro-teams"]
    assert result.offers[0].current_plan == "pro"  # the plan the event leaves


def test_attributes_told_before_the_first_subscription_enter_with_it() -> None:
    account = customer(plan=None)
    result = account.send("account", day=0, industry="payroll", employees=12)
    assert fired(result) == [] and held(result) == []  # nothing to offer yet: not used up
    assert fired(account.send("subscription", day=1, plan="basic")) == ["payroll-accounting"]
    assert fired(account.send("subscription", day=2, plan="basic", renews_at="2027-01-01T00:00:00Z")) == []


def test_an_entry_held_back_is_tried_again_on_a_subscription_event() -> None:
    account = customer(payroll_book(guards="onboarding_grace_days: 14"), signed_up_day=-10)
    account.send("account", day=0, industry="payroll", employees=12)
    assert fired(account.send("subscription", day=5, plan="basic")) == ["payroll-accounting"]


def test_an_upgrade_still_converts_when_it_enters_a_segment() -> None:
    rules = book(triggers=PRO_TEAMS + """
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}}
""")
    account = customer(rules)
    account.send("account", day=0, employees=12)
    assert fired(account.seats(8, day=1)) == ["seats-80"]
    result = account.send("subscription", day=2, plan="pro")
    assert [record.trigger_id for record in result.converted] == ["seats-80"]
    assert fired(result) == ["big-pro-teams"]


# -- how reasons are worded from the leaves ---------------------------------------------

def test_a_segment_with_no_number_to_tell_is_named() -> None:
    rules = book(triggers="""
triggers:
  - id: payroll-teams
    kind: segment
    name: payroll teams
    when: {attribute: industry, in: [payroll, accounting]}
    offer: {kind: cross_sell, recommend: "addon:reports"}
""")
    result = customer(rules).send("account", industry="payroll")
    assert result.offers[0].reason.text == "you are now in the segment payroll teams"


def test_a_segment_on_a_metric_quotes_the_usage() -> None:
    rules = book(triggers="""
triggers:
  - id: busy-payroll
    kind: segment
    when:
      all:
        - {attribute: industry, equals: payroll}
        - {metric: seats, percent_of_limit_at_least: 50}
    offer: {kind: cross_sell, recommend: "addon:reports"}
""")
    account = customer(rules)
    account.seats(6, day=0)
    reason = account.send("account", day=1, industry="payroll").offers[0].reason
    assert (reason.text, reason.metric, reason.value, reason.limit, reason.percent) == (
        "6 of 10 seats used (60%)", "seats", 6, 10, 60)


# -- decide first, apply last ---------------------------------------------------------

def test_an_error_while_deciding_leaves_the_account_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = customer()
    account.send("account", day=0, industry="payroll", employees=5)
    before = encode_state(account.state)

    def broken(*args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(InSegment, "level", broken)
    with pytest.raises(RuntimeError):
        account.send("account", day=1, employees=12, traits={"x": 1})
    assert encode_state(account.state) == before


# -- attributes ------------------------------------------------------------------------

def test_a_field_replaces_its_attribute_and_null_removes_it() -> None:
    account = customer()
    account.send("account", day=0, industry="payroll", employees=5, country="DE",
                 contract_term="annual", traits={"tier": "gold", "beta": True})
    account.send("account", day=1, industry=None, employees=6, traits={"beta": None, "seats": 3})
    assert account.state.attributes == {
        "employees": 6, "country": "DE", "contract_term": "annual", "tier": "gold", "seats": 3}
    assert account.state.attributes_at == account.state.seen_at


def test_an_account_keeps_at_most_32_traits_and_says_so() -> None:
    account = customer()
    account.send("account", day=0, industry="payroll", employees=5, country="DE",
                 contract_term="monthly", traits={f"a{n}": n for n in range(30)})
    result = account.send("account", day=1, traits={f"b{n}": n for n in range(5)})
    assert result.ignored == "3 new traits not kept: an account keeps at most 32"
    assert len(account.state.attributes) == 4 + MAX_TRAITS
    # Removing traits in the same event makes room for new ones.
    result = account.send("account", day=2, traits={"a0": None, "a1": None, "c0": 1, "c1": 2,
                                                     "a2": 99})
    assert result.ignored is None
    assert {"c0", "c1"} <= set(account.state.attributes)
    assert account.state.attributes["a2"] == 99  # an existing trait is always updated
    assert len(account.state.attributes) == 4 + MAX_TRAITS


def test_the_time_of_the_last_account_event_outlives_a_checkpoint() -> None:
    account = customer()
    account.send("account", day=3, industry="payroll")
    restored = AccountState.from_dict(orjson.loads(encode_state(account.state)))
    assert restored.attributes_at == account.state.attributes_at
    older = {k: v for k, v in orjson.loads(encode_state(account.state)).items()
             if k != "attributes_at"}
    assert AccountState.from_dict(older).attributes_at == float("-inf")
