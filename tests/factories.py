"""Builders for rules and events, so each test states only what it is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from schemas.events import decode_event
from schemas.rules_file import parse_rules
from triggers import AccountState, Evaluation, RuleBook, evaluate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "saas-rules.yaml"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CATALOGUE = """
version: test
metrics:
  seats: {kind: gauge, label: seats}
  api_calls: {kind: counter, label: API calls}
plans:
  basic: {name: Basic, price_monthly: 20, limits: {seats: 10, api_calls: 1000}, upgrade_to: pro}
  pro: {name: Pro, price_monthly: 98, limits: {seats: 50, api_calls: 20000},
        features: [advanced_analytics], upgrade_to: enterprise}
  enterprise: {name: Enterprise, features: [advanced_analytics, sso]}
addons:
  reports: {name: Reports, price_monthly: 15, complements: [basic, pro]}
"""

DEFAULT_TRIGGERS = """
triggers:
  - {id: seats-80, kind: usage_threshold, metric: seats, levels: [80],
     offer: {kind: upsell, recommend: next_tier}, priority: 50}
  - {id: seats-100, kind: limit_reached, metric: seats,
     offer: {kind: upsell, recommend: next_tier}, priority: 90}
  - {id: calls-80, kind: usage_threshold, metric: api_calls, levels: [80],
     offer: {kind: upsell, recommend: next_tier}}
  - {id: gate, kind: feature_gate, feature: advanced_analytics,
     offer: {kind: upsell, recommend: plan_with_feature}}
  - {id: done, kind: milestone, name: project_completed,
     offer: {kind: cross_sell, recommend: "addon:reports"}}
  - {id: promoter, kind: score_at_least, score_type: nps, at_least: 9,
     offer: {kind: upsell, recommend: next_tier}}
  - {id: leaving, kind: churn_signal, name: cancellation_started,
     offer: {kind: down_sell, recommend: previous_tier}}
"""


def book(guards: str = "", triggers: str = DEFAULT_TRIGGERS) -> RuleBook:
    """A small catalogue with the given triggers and guards (YAML under `guards:`)."""
    text = CATALOGUE + triggers
    if guards:
        text += "guards:\n" + "\n".join("  " + line for line in guards.strip().splitlines())
    return RuleBook.compile(parse_rules(text, "test-rules.yaml"))


def example_book() -> RuleBook:
    from schemas.rules_file import load_rules

    return RuleBook.compile(load_rules(EXAMPLE_RULES))


def event_json(
    type_: str, account: str = "acme", day: float = 0, event_id: str | None = None, **fields: Any
) -> bytes:
    at = T0 + timedelta(days=day)
    return orjson.dumps({
        "event_id": event_id or f"{account}-{type_}-{day}-{sorted(fields.items())}",
        "account_id": account,
        "type": type_,
        "occurred_at": at.isoformat(),
        **fields,
    })


class Account:
    """One account fed events through the real decoder and the real core."""

    def __init__(self, rules: RuleBook, plan: str | None = "basic", signed_up_day: float = -365,
                 account_id: str = "acme") -> None:
        self.book = rules
        self.state = AccountState(account_id)
        self.account_id = account_id
        self.sent = 0
        if plan is not None:
            self.send("subscription", day=-1, plan=plan,
                      started_at=(T0 + timedelta(days=signed_up_day)).isoformat())

    def send(self, type_: str, day: float = 0, event_id: str | None = None,
             **fields: Any) -> Evaluation:
        self.sent += 1
        raw = event_json(type_, self.account_id, day, event_id or f"e{self.sent}", **fields)
        return evaluate(self.state, decode_event(raw), self.book)

    def seats(self, value: float, day: float = 0) -> Evaluation:
        return self.send("usage", day=day, metric="seats", value=value)


def fired(result: Evaluation) -> list[str]:
    return [offer.trigger_id for offer in result.offers]


def held(result: Evaluation) -> list[tuple[str, str]]:
    return [(s.trigger_id, s.guard) for s in result.suppressed]
