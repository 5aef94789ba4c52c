"""RuleBook: a validated rules file compiled for the per-event hot path.

Triggers are indexed by what can fire them (a metric, a feature, a milestone
name, a score type, a churn signal), so an event only looks at the few triggers
it can fire. Each trigger carries the guards that apply to it, already
filtered by its `ignore_guards`, and what it recommends is resolved through
the plan catalogue (upgrade path, features, add-ons).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.offers import OfferKind, Recommendation
from schemas.rules import (
    ChurnSignalTrigger,
    FeatureGateTrigger,
    LimitReachedTrigger,
    MilestoneTrigger,
    Plan,
    RulesFile,
    ScoreTrigger,
    Trigger,
    UsageThresholdTrigger,
)
from schemas.rules_file import LoadedRules
from triggers.guards import Guard, build_guards

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class CompiledTrigger:
    """A trigger as the hot path needs it."""

    id: str
    kind: str
    offer_kind: OfferKind
    recommend: str
    priority: int
    valid_for: float  # seconds
    guards: tuple[Guard, ...]
    levels: tuple[float, ...] = ()  # percents, for usage thresholds
    metric: str | None = None
    feature: str | None = None
    at_least: float = 0.0  # score triggers


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved recommendation: what to offer this account."""

    key: str  # "plan:pro" / "addon:x": what silences and conversions match on
    recommendation: Recommendation


@dataclass
class RuleBook:
    """Everything `evaluate` needs from the rules, indexed for speed."""

    version: str
    rules: RulesFile
    by_metric: dict[str, tuple[CompiledTrigger, ...]] = field(default_factory=dict)
    by_feature: dict[str, tuple[CompiledTrigger, ...]] = field(default_factory=dict)
    by_milestone: dict[str, tuple[CompiledTrigger, ...]] = field(default_factory=dict)
    by_score: dict[str, tuple[CompiledTrigger, ...]] = field(default_factory=dict)
    by_signal: dict[str, tuple[CompiledTrigger, ...]] = field(default_factory=dict)
    metric_kinds: dict[str, str] = field(default_factory=dict)
    plan_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    rank: dict[str, int] = field(default_factory=dict)  # position on the upgrade path
    downgrade_to: dict[str, str] = field(default_factory=dict)
    _targets: dict[tuple[str, str], Target] = field(default_factory=dict)

    @classmethod
    def compile(cls, loaded: LoadedRules) -> RuleBook:
        rules = loaded.rules
        book = cls(version=loaded.version, rules=rules)
        indexes: dict[str, dict[str, list[CompiledTrigger]]] = {
            "metric": {}, "feature": {}, "milestone": {}, "score": {}, "signal": {},
        }
        for trigger in rules.triggers:
            compiled = _compile_trigger(trigger, rules)
            index, key = _index_key(trigger)
            indexes[index].setdefault(key, []).append(compiled)
        book.by_metric = _freeze(indexes["metric"])
        book.by_feature = _freeze(indexes["feature"])
        book.by_milestone = _freeze(indexes["milestone"])
        book.by_score = _freeze(indexes["score"])
        book.by_signal = _freeze(indexes["signal"])
        book.metric_kinds = {name: metric.kind for name, metric in rules.metrics.items()}
        book.plan_limits = {plan_id: dict(plan.limits) for plan_id, plan in rules.plans.items()}
        book.rank = _upgrade_ranks(rules)
        book.downgrade_to = {
            plan.upgrade_to: plan_id
            for plan_id, plan in rules.plans.items()
            if plan.upgrade_to is not None
        }
        return book

    @property
    def cap_window(self) -> float:
        """Seconds of offer history the account-wide cap looks at."""
        cap = self.rules.guards.account_cap
        return cap.per_days * DAY if cap is not None else 0.0

    def target_for(
        self, trigger: CompiledTrigger, plan_id: str | None, addons: tuple[str, ...]
    ) -> Target | None:
        """What this trigger would offer an account on `plan_id`; None if nothing fits
        (top tier, unknown plan, add-on already owned or not sold with this plan)."""
        if plan_id is None or plan_id not in self.rules.plans:
            return None
        recommend = trigger.recommend
        if recommend.startswith("addon:"):
            addon_id = recommend[6:]
            addon = self.rules.addons[addon_id]
            if addon_id in addons or plan_id not in addon.complements:
                return None
            return self._target(plan_id, recommend)
        target_plan = self._target_plan(trigger, plan_id)
        if target_plan is None or target_plan == plan_id:
            return None
        return self._target(plan_id, f"plan:{target_plan}")

    def _target_plan(self, trigger: CompiledTrigger, plan_id: str) -> str | None:
        recommend = trigger.recommend
        plans = self.rules.plans
        if recommend == "next_tier":
            return plans[plan_id].upgrade_to
        if recommend == "previous_tier":
            return self.downgrade_to.get(plan_id)
        if recommend == "plan_with_feature":
            if trigger.feature in plans[plan_id].features:
                return None
            candidate = plans[plan_id].upgrade_to
            while candidate is not None and trigger.feature not in plans[candidate].features:
                candidate = plans[candidate].upgrade_to
            return candidate
        target_plan = recommend[5:]  # "plan:<id>"
        if trigger.offer_kind == "upsell" and self.rank[target_plan] <= self.rank[plan_id]:
            return None  # already on that tier or above
        return target_plan

    def _target(self, plan_id: str, key: str) -> Target:
        cached = self._targets.get((plan_id, key))
        if cached is None:
            cached = Target(key=key, recommendation=self._describe(plan_id, key))
            self._targets[(plan_id, key)] = cached
        return cached

    def _describe(self, plan_id: str, key: str) -> Recommendation:
        kind, _, target_id = key.partition(":")
        if kind == "addon":
            addon = self.rules.addons[target_id]
            changes = [f"adds {_words(feature)}" for feature in addon.features]
            return Recommendation(
                type="addon", id=target_id, name=addon.name,
                price_monthly=addon.price_monthly, changes=changes,
            )
        plan = self.rules.plans[target_id]
        return Recommendation(
            type="plan", id=target_id, name=plan.name, price_monthly=plan.price_monthly,
            changes=_plan_changes(self.rules, self.rules.plans[plan_id], plan),
        )


def _compile_trigger(trigger: Trigger, rules: RulesFile) -> CompiledTrigger:
    cooldown = trigger.cooldown_days
    if cooldown is None:
        cooldown = rules.guards.cooldown_days
    levels: tuple[float, ...] = ()
    if isinstance(trigger, UsageThresholdTrigger):
        levels = tuple(trigger.levels)
    elif isinstance(trigger, LimitReachedTrigger):
        levels = (100.0,)
    return CompiledTrigger(
        id=trigger.id,
        kind=trigger.kind,
        offer_kind=trigger.offer.kind,
        recommend=trigger.offer.recommend,
        priority=trigger.priority,
        valid_for=trigger.offer.valid_days * DAY,
        guards=build_guards(rules.guards, cooldown * DAY, set(trigger.ignore_guards)),
        levels=levels,
        metric=getattr(trigger, "metric", None),
        feature=trigger.feature if isinstance(trigger, FeatureGateTrigger) else None,
        at_least=trigger.at_least if isinstance(trigger, ScoreTrigger) else 0.0,
    )


def _index_key(trigger: Trigger) -> tuple[str, str]:
    if isinstance(trigger, UsageThresholdTrigger | LimitReachedTrigger):
        return "metric", trigger.metric
    if isinstance(trigger, FeatureGateTrigger):
        return "feature", trigger.feature
    if isinstance(trigger, MilestoneTrigger):
        return "milestone", trigger.name
    if isinstance(trigger, ScoreTrigger):
        return "score", trigger.score_type
    if isinstance(trigger, ChurnSignalTrigger):
        return "signal", trigger.name
    raise TypeError(f"no index for trigger kind {trigger.kind!r}")  # pragma: no cover


def _freeze(index: dict[str, list[CompiledTrigger]]) -> dict[str, tuple[CompiledTrigger, ...]]:
    return {key: tuple(triggers) for key, triggers in index.items()}


def _upgrade_ranks(rules: RulesFile) -> dict[str, int]:
    """0 for the bottom of each upgrade path, +1 per step up."""
    upgraded_from = {plan.upgrade_to for plan in rules.plans.values() if plan.upgrade_to}
    ranks: dict[str, int] = {}
    for plan_id in rules.plans:
        if plan_id in upgraded_from:
            continue
        rank = 0
        current: str | None = plan_id
        while current is not None and current not in ranks:
            ranks[current] = rank
            rank += 1
            current = rules.plans[current].upgrade_to
    for plan_id in rules.plans:
        ranks.setdefault(plan_id, 0)
    return ranks


def _plan_changes(rules: RulesFile, current: Plan, target: Plan) -> list[str]:
    changes = []
    for metric_id, metric in rules.metrics.items():
        before, after = current.limits.get(metric_id), target.limits.get(metric_id)
        if before == after or before is None:
            continue
        label = metric.label or _words(metric_id)
        after_text = "unlimited" if after is None else format_number(after)
        changes.append(f"{label}: {format_number(before)} -> {after_text}")
    changes.extend(
        f"adds {_words(feature)}" for feature in target.features if feature not in current.features
    )
    return changes


def format_number(value: float) -> str:
    """41.0 -> '41', 10000 -> '10,000', 2.5 -> '2.5'."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _words(identifier: str) -> str:
    return identifier.replace("_", " ")
