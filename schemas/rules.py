"""The rules file: plan catalogue, triggers and guards, as data.

A product manager edits this file, not code. Its models are strict (unknown
keys are refused, so a typo such as `cooldwn_days` is an error, not a silent
default) and cross-checked: every metric, plan, add-on and feature a trigger
names must exist in the catalogue. See `schemas/rules_file.py` for loading from
YAML with line numbers in the errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.conditions import (
    AttributeCondition,
    Condition,
    MetricCondition,
    PlanCondition,
    size_problem,
    walk,
)
from schemas.offers import OfferKind

Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
Days = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(_Strict):
    """A measured quantity. Gauges report the level now; counters add up per billing period."""

    kind: Literal["gauge", "counter"]
    label: str | None = Field(default=None, description="Plural noun used in reasons.")
    period: Literal["month"] = Field(
        default="month", description="Counters reset each period, anchored on the signup day."
    )


class Plan(_Strict):
    """A tier of the product. A metric absent from `limits` is unlimited on that plan."""

    name: str
    price_monthly: float | None = Field(default=None, ge=0, description="null: custom price.")
    limits: dict[Id, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    features: list[Id] = Field(default_factory=list)
    upgrade_to: Id | None = Field(default=None, description="The next tier; none on the top.")


class Addon(_Strict):
    """A complementary product that can be bought on top of some plans."""

    name: str
    price_monthly: float | None = Field(default=None, ge=0)
    complements: list[Id] = Field(description="Plans this add-on can be sold with.")
    features: list[Id] = Field(default_factory=list)


Recommend = Annotated[
    str,
    Field(
        pattern=r"^(next_tier|previous_tier|plan_with_feature|plan:[A-Za-z0-9_.-]+|addon:[A-Za-z0-9_.-]+)$",
        description=(
            "next_tier, previous_tier, plan_with_feature (the lowest higher tier that has "
            "the gated feature), plan:<id> or addon:<id>"
        ),
    ),
]


class OfferSpec(_Strict):
    """What a trigger offers when it fires."""

    kind: OfferKind
    recommend: Recommend
    valid_days: Annotated[float, Field(gt=0)] = 7


GuardName = Literal[
    "onboarding_grace",
    "open_ticket",
    "low_score",
    "response_silence",
    "cooldown",
    "account_cap",
    "after_down_sell",
]


class Holdout(_Strict):
    """A control group: this share of accounts gets no offer, so that what the offers
    achieve can be told from what would have happened anyway. Membership is a hash
    of (account, salt): the same accounts on every worker, restart and replay; a
    new salt draws a new group."""

    share: Annotated[float, Field(ge=0, lt=1)] = Field(
        description="Share of accounts held out, e.g. 0.1."
    )
    salt: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="Names the draw, e.g. '2026-q4'."
    )


class Outcomes(_Strict):
    """How outcomes are measured."""

    churn_window_days: Days = Field(
        default=90,
        description="A downgrade, cancellation or removed add-on this soon after a "
                    "conversion counts as post-upsell churn of that offer.",
    )


class _TriggerBase(_Strict):
    id: Id
    offer: OfferSpec
    holdout: Holdout | None = Field(
        default=None, description="This trigger's own control group; overrides the global one."
    )
    priority: int = Field(default=0, description="Higher wins when several triggers fire.")
    cooldown_days: Days | None = Field(
        default=None, description="Overrides guards.cooldown_days for this trigger."
    )
    ignore_guards: list[GuardName] = Field(
        default_factory=list, description="Guards that do not apply (e.g. a down-sell)."
    )
    when: Condition | None = Field(
        default=None,
        description="Only accounts for which this holds (schemas/conditions.py); none: all.",
    )

    @field_validator("when")
    @classmethod
    def _small_enough(cls, when: Condition | None) -> Condition | None:
        problem = size_problem(when) if when is not None else None
        if problem is not None:
            raise ValueError(problem)
        return when


class UsageThresholdTrigger(_TriggerBase):
    """Fires when a metric crosses a percentage of the plan's limit, once per crossing."""

    kind: Literal["usage_threshold"]
    metric: Id
    levels: list[Annotated[float, Field(gt=0)]] = Field(min_length=1, description="Percents.")

    @field_validator("levels")
    @classmethod
    def _sorted_unique(cls, levels: list[float]) -> list[float]:
        if sorted(set(levels)) != levels:
            raise ValueError("levels must be unique and in increasing order, e.g. [80, 90]")
        return levels


class LimitReachedTrigger(_TriggerBase):
    """Fires when a metric reaches 100% of the plan's limit."""

    kind: Literal["limit_reached"]
    metric: Id


class FeatureGateTrigger(_TriggerBase):
    """Fires when a user tries a feature the plan lacks."""

    kind: Literal["feature_gate"]
    feature: Id


class MilestoneTrigger(_TriggerBase):
    """Fires right after a success moment."""

    kind: Literal["milestone"]
    name: Id


class ScoreTrigger(_TriggerBase):
    """Fires when a score is at or above a value (e.g. NPS >= 9)."""

    kind: Literal["score_at_least"]
    score_type: Literal["nps", "csat", "health_score"]
    at_least: float


class ChurnSignalTrigger(_TriggerBase):
    """Fires on a sign the account may leave; usually a down-sell."""

    kind: Literal["churn_signal"]
    name: Id


class BeforeRenewalTrigger(_TriggerBase):
    """Fires N days before the subscription's `renews_at`, once per renewal date and
    number of days; a new `renews_at` moves it. Needs no event at that moment."""

    kind: Literal["before_renewal"]
    days: list[Annotated[float, Field(gt=0, le=3660)]] = Field(
        min_length=1, max_length=10, description="Days before renewal, e.g. [60, 30]."
    )

    @field_validator("days")
    @classmethod
    def _unique(cls, days: list[float]) -> list[float]:
        if len(set(days)) != len(days):
            raise ValueError("days must be unique, e.g. [60, 30]")
        return sorted(days, reverse=True)


class TenureTrigger(_TriggerBase):
    """Fires once in a window of the account's tenure (e.g. 90 to 180 days after signup),
    at the first moment in it when no guard holds it back; never after it closes."""

    kind: Literal["tenure"]
    from_days: Days
    to_days: Annotated[float, Field(gt=0)]
    since: Literal["signup", "plan_change"] = Field(
        default="signup",
        description="signup: the subscription's started_at; plan_change: when the current plan began.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> TenureTrigger:
        if self.to_days <= self.from_days:
            raise ValueError("to_days must be greater than from_days")
        return self


class InactivityTrigger(_TriggerBase):
    """Fires when an account has sent no usage for `days` (counted from its last usage,
    or from signup if it never sent any); once per quiet spell. Usually a down-sell."""

    kind: Literal["inactivity"]
    days: Annotated[float, Field(gt=0, le=3660)]


class GrowthTrigger(_TriggerBase):
    """Fires when a gauge rises by at least `by` (absolute) or `by_percent` within
    `within_days`, once per growth spurt (re-armed when the rise falls out of the window)."""

    kind: Literal["growth"]
    metric: Id
    by: Annotated[float, Field(gt=0)] | None = None
    by_percent: Annotated[float, Field(gt=0)] | None = None
    within_days: Annotated[int, Field(ge=1, le=366)]

    @model_validator(mode="after")
    def _one_bound(self) -> GrowthTrigger:
        if (self.by is None) == (self.by_percent is None):
            raise ValueError("give exactly one of 'by' (e.g. 5 seats) or 'by_percent' (e.g. 100)")
        return self


class UsageDropTrigger(_TriggerBase):
    """Fires when a gauge falls by at least `by_percent` from its highest level within
    `within_days`: a usage collapse, a churn risk. Usually a down-sell."""

    kind: Literal["usage_drop"]
    metric: Id
    by_percent: Annotated[float, Field(gt=0, le=100)]
    within_days: Annotated[int, Field(ge=1, le=366)]


class ForecastTrigger(_TriggerBase):
    """Fires when, at the trend of the last `window_days` (least-squares slope of daily
    samples, at least `min_samples`), a gauge reaches the plan's limit within
    `within_days`. Once per limit; re-armed when the forecast moves out."""

    kind: Literal["forecast"]
    metric: Id
    within_days: Annotated[float, Field(gt=0, le=366)]
    window_days: Annotated[int, Field(ge=2, le=366)] = 30
    min_samples: Annotated[int, Field(ge=2, le=366)] = 5

    @model_validator(mode="after")
    def _reachable(self) -> ForecastTrigger:
        if self.min_samples > self.window_days:
            raise ValueError("min_samples cannot exceed window_days (one sample per day): "
                             "it could never fire")
        return self


class SegmentTrigger(_TriggerBase):
    """Fires when an account enters the segment its `when` describes ("payroll
    customers once they reach 10+ employees"), once per entry; re-armed when it
    leaves. Decided on the events that change what the account is: account and
    subscription events."""

    kind: Literal["segment"]
    when: Condition
    name: str | None = Field(
        default=None, max_length=100,
        description="How the segment is named in a reason, e.g. 'growing payroll teams'.",
    )


Trigger = Annotated[
    UsageThresholdTrigger
    | LimitReachedTrigger
    | FeatureGateTrigger
    | MilestoneTrigger
    | ScoreTrigger
    | ChurnSignalTrigger
    | BeforeRenewalTrigger
    | TenureTrigger
    | InactivityTrigger
    | GrowthTrigger
    | UsageDropTrigger
    | ForecastTrigger
    | SegmentTrigger,
    Field(discriminator="kind"),
]

# Kinds that keep daily samples of their metric; such a metric must be a gauge.
HISTORY_KINDS = (GrowthTrigger, UsageDropTrigger, ForecastTrigger)


def _trigger_specs() -> dict[str, type[_TriggerBase]]:
    """The `Trigger` union as kind -> model, so nothing else lists the kinds again."""
    union, _discriminator = get_args(Trigger)
    return {get_args(spec.model_fields["kind"].annotation)[0]: spec for spec in get_args(union)}


# Every trigger kind a rules file may use, by its `kind`: each has a module in
# triggers/kinds/ that compiles it.
TRIGGER_SPECS = _trigger_specs()


class AccountCap(_Strict):
    """At most `max_offers` offers per account in any `per_days` window, all triggers together."""

    max_offers: Annotated[int, Field(ge=1)]
    per_days: Annotated[float, Field(gt=0)]


class LowScoreGuard(_Strict):
    """After a score at or below `at_most`, hold offers back for `silence_days`."""

    score_type: Literal["nps", "csat", "health_score"] = "nps"
    at_most: float
    silence_days: Days


class Guards(_Strict):
    """When not to make an offer, even though a trigger fired."""

    onboarding_grace_days: Days = 0
    account_cap: AccountCap | None = None
    cooldown_days: Days = Field(default=0, description="Default per-trigger cooldown.")
    silence_after_response: dict[Literal["declined", "dismissed"], Days] = Field(
        default_factory=dict,
        description="Days an offer's recommendation stays silent after this response.",
    )
    suppress_while_ticket_open: list[Literal["low", "normal", "high", "urgent"]] = Field(
        default_factory=list, description="Severities of open tickets that hold offers back."
    )
    low_score: LowScoreGuard | None = None
    conversion_window_days: Days = Field(
        default=30, description="A plan change this soon after an offer counts as its conversion."
    )
    after_down_sell_days: Days = Field(
        default=0,
        description="No upsell or cross-sell this many days after a down-sell offer: the "
                    "account is at risk (0: off).",
    )


class RulesFile(_Strict):
    """The whole rules file."""

    version: Id = Field(description="Named in every offer this rules file makes.")
    metrics: dict[Id, Metric]
    plans: dict[Id, Plan] = Field(min_length=1)
    addons: dict[Id, Addon] = Field(default_factory=dict)
    triggers: list[Trigger]
    guards: Guards = Field(default_factory=Guards)
    holdout: Holdout | None = Field(
        default=None, description="The control group of every trigger without its own."
    )
    outcomes: Outcomes = Field(default_factory=Outcomes)


def reference_errors(rules: RulesFile) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references the models alone cannot check, as (path, message) pairs."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    for plan_id, plan in rules.plans.items():
        for metric in plan.limits:
            if metric not in rules.metrics:
                errors.append(
                    (("plans", plan_id, "limits", metric),
                     f"unknown metric '{metric}' (known: {_known(rules.metrics)})")
                )
        if plan.upgrade_to is not None and plan.upgrade_to not in rules.plans:
            errors.append(
                (("plans", plan_id, "upgrade_to"),
                 f"unknown plan '{plan.upgrade_to}' (known: {_known(rules.plans)})")
            )
    errors.extend(_upgrade_cycles(rules))
    for addon_id, addon in rules.addons.items():
        for index, plan_id in enumerate(addon.complements):
            if plan_id not in rules.plans:
                errors.append(
                    (("addons", addon_id, "complements", index),
                     f"unknown plan '{plan_id}' (known: {_known(rules.plans)})")
                )

    seen: set[str] = set()
    for index, trigger in enumerate(rules.triggers):
        if trigger.id in seen:
            errors.append((("triggers", index, "id"), f"duplicate trigger id '{trigger.id}'"))
        seen.add(trigger.id)
        trigger_metric: str | None = getattr(trigger, "metric", None)
        if trigger_metric is not None and trigger_metric not in rules.metrics:
            errors.append(
                (("triggers", index, "metric"),
                 f"unknown metric '{trigger_metric}' (known: {_known(rules.metrics)})")
            )
        if isinstance(trigger, HISTORY_KINDS) and trigger.metric in rules.metrics \
                and rules.metrics[trigger.metric].kind != "gauge":
            errors.append(
                (("triggers", index, "metric"),
                 f"'{trigger.kind}' needs a gauge: '{trigger.metric}' is a counter")
            )
        target = trigger.offer.recommend
        if target.startswith("plan:") and target[5:] not in rules.plans:
            errors.append(
                (("triggers", index, "offer", "recommend"),
                 f"unknown plan '{target[5:]}' (known: {_known(rules.plans)})")
            )
        if target.startswith("addon:") and target[6:] not in rules.addons:
            errors.append(
                (("triggers", index, "offer", "recommend"),
                 f"unknown add-on '{target[6:]}' (known: {_known(rules.addons)})")
            )
        if target == "plan_with_feature" and not isinstance(trigger, FeatureGateTrigger):
            errors.append(
                (("triggers", index, "offer", "recommend"),
                 "plan_with_feature only applies to feature_gate triggers")
            )
        if trigger.when is not None:
            errors.extend(_condition_errors(trigger.when, ("triggers", index, "when"), rules))
    return errors


# Attributes of the account event whose values are text, and the contract terms.
_TEXT_ATTRIBUTES = ("industry", "country", "contract_term")
_CONTRACT_TERMS = ("monthly", "annual")


def _condition_errors(
    root: Condition, at: tuple[str | int, ...], rules: RulesFile
) -> list[tuple[tuple[str | int, ...], str]]:
    """Metrics and plans a `when:` names must exist; a test that can never hold on
    a known attribute is a mistake, not a segment."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    for below, node in walk(root):
        path = (*at, *below)
        if isinstance(node, MetricCondition) and node.metric not in rules.metrics:
            errors.append(((*path, "metric"),
                           f"unknown metric '{node.metric}' (known: {_known(rules.metrics)})"))
        elif isinstance(node, PlanCondition):
            for position, plan in enumerate(node.plan.in_):
                if plan not in rules.plans:
                    errors.append(((*path, "plan", "in", position),
                                   f"unknown plan '{plan}' (known: {_known(rules.plans)})"))
        elif isinstance(node, AttributeCondition) and node.attribute in _TEXT_ATTRIBUTES:
            if node.at_least is not None or node.at_most is not None:
                field = "at_least" if node.at_least is not None else "at_most"
                errors.append(((*path, field),
                               f"'{node.attribute}' is text: at_least and at_most compare numbers"))
            if node.attribute == "contract_term":
                values = [node.equals] if node.equals is not None else node.in_ or []
                for value in values:
                    if value not in _CONTRACT_TERMS:
                        errors.append(((*path, "equals" if node.equals is not None else "in"),
                                       f"contract_term is monthly or annual, not {value!r}"))
    return errors


def _known(names: Mapping[str, object]) -> str:
    return ", ".join(sorted(names)) or "none"


def _upgrade_cycles(rules: RulesFile) -> list[tuple[tuple[str | int, ...], str]]:
    """An upgrade path that loops would make 'next tier' meaningless."""
    for start in rules.plans:
        seen = [start]
        current = rules.plans[start].upgrade_to
        while current is not None and current in rules.plans:
            if current in seen:
                path = " -> ".join([*seen, current])
                return [(("plans", start, "upgrade_to"), f"upgrade path loops: {path}")]
            seen.append(current)
            current = rules.plans[current].upgrade_to
    return []
