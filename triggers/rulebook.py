"""RuleBook: a validated rules file compiled for the per-event hot path.

Each trigger is compiled by its kind (triggers/kinds/) into a condition, and
indexed under the signals its condition listens on (a metric, a feature, a
milestone name, a score type, a churn signal), so an event only looks at the
few triggers it can fire. Each trigger carries the guards that apply to it,
already filtered by its `ignore_guards`, and what it recommends is resolved
through the plan catalogue (upgrade path, features, add-ons). A trigger's
`when:` is compiled once (triggers/when.py), and what all of them read decides
what accounts keep: recent signals, latest scores, and the metrics whose
readings may move a timed trigger's due time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.offers import Recommendation
from schemas.rules import Plan, RulesFile
from schemas.rules import Trigger as TriggerSpec
from schemas.rules_file import LoadedRules
from triggers.conditions import FEATURE, Signal, TimedCondition
from triggers.guards import build_guards
from triggers.kinds import compile_kind
from triggers.trigger import OfferTerms, Trigger, When
from triggers.when import Compiled, Reads, compile_when
from triggers.wording import format_number, words

DAY = 86_400.0


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
    listeners: dict[Signal, tuple[Trigger, ...]] = field(default_factory=dict)  # in rules order
    metric_kinds: dict[str, str] = field(default_factory=dict)
    plan_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    rank: dict[str, int] = field(default_factory=dict)  # position on the upgrade path
    downgrade_to: dict[str, str] = field(default_factory=dict)
    # Time: triggers that fire with no event, at a due time the sweep finds.
    timed: tuple[Trigger, ...] = ()
    # metric -> the `when:` conditions of timed triggers that read it
    timer_whens: dict[str, tuple[When, ...]] = field(default_factory=dict)
    # Timed triggers counted from the last usage reading (inactivity): (id, seconds)
    usage_timers: tuple[tuple[str, float], ...] = ()
    # metric -> days of daily samples the longest window over it needs
    history_days: dict[str, int] = field(default_factory=dict)
    # What `when:` conditions ask about, and so what accounts keep: recent signals
    # ("milestone:project_completed") and the latest score per scale.
    tracked_signals: frozenset[str] = frozenset()
    tracked_scores: frozenset[str] = frozenset()
    _targets: dict[tuple[str, str], Target] = field(default_factory=dict)

    @classmethod
    def compile(cls, loaded: LoadedRules) -> RuleBook:
        rules = loaded.rules
        book = cls(version=loaded.version, rules=rules)
        listeners: dict[Signal, list[Trigger]] = {}
        timed: list[Trigger] = []
        reads = Reads()  # what the `when:` of every trigger reads
        for spec in rules.triggers:
            when = compile_when(spec.when, rules) if spec.when is not None else None
            trigger = _compile_trigger(spec, rules, when)
            for signal in trigger.condition.listens_on:
                listeners.setdefault(signal, []).append(trigger)
            if when is not None:
                reads = reads | when.reads
            if isinstance(trigger.condition, TimedCondition):
                timed.append(trigger)
                if when is not None:
                    for metric in when.reads.metrics:
                        book.timer_whens[metric] = (*book.timer_whens.get(metric, ()), when)
            history = getattr(trigger.condition, "history_days", 0)
            if history:
                metric = trigger.condition.metric  # type: ignore[attr-defined]
                book.history_days[metric] = max(history, book.history_days.get(metric, 0))
        book.listeners = {signal: tuple(triggers) for signal, triggers in listeners.items()}
        book.timed = tuple(timed)
        book.usage_timers = tuple(
            (t.id, t.condition.seconds) for t in timed  # type: ignore[attr-defined]
            if getattr(t.condition, "counts_from_usage", False)
        )
        book.tracked_signals = reads.signals
        book.tracked_scores = reads.scores
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

    def plan_name(self, plan_id: str | None) -> str:
        """How a plan is named in a reason ("Basic"); an unknown id as it is."""
        known = self.rules.plans.get(plan_id) if plan_id is not None else None
        return known.name if known is not None else str(plan_id)

    def target_for(
        self, offer: OfferTerms, plan_id: str | None, addons: tuple[str, ...]
    ) -> Target | None:
        """What a trigger's offer is for an account on `plan_id`; None if nothing fits
        (top tier, unknown plan, add-on already owned or not sold with this plan)."""
        if plan_id is None or plan_id not in self.rules.plans:
            return None
        recommend = offer.recommend
        if recommend.startswith("addon:"):
            addon_id = recommend[6:]
            addon = self.rules.addons[addon_id]
            if addon_id in addons or plan_id not in addon.complements:
                return None
            return self._target(plan_id, recommend)
        target_plan = self._target_plan(offer, plan_id)
        if target_plan is None or target_plan == plan_id:
            return None
        return self._target(plan_id, f"plan:{target_plan}")

    def _target_plan(self, offer: OfferTerms, plan_id: str) -> str | None:
        recommend = offer.recommend
        plans = self.rules.plans
        if recommend == "next_tier":
            return plans[plan_id].upgrade_to
        if recommend == "previous_tier":
            return self.downgrade_to.get(plan_id)
        if recommend == "plan_with_feature":
            if offer.feature in plans[plan_id].features:
                return None
            candidate = plans[plan_id].upgrade_to
            while candidate is not None and offer.feature not in plans[candidate].features:
                candidate = plans[candidate].upgrade_to
            return candidate
        target_plan = recommend[5:]  # "plan:<id>"
        if offer.kind == "upsell" and self.rank[target_plan] <= self.rank[plan_id]:
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
            changes = [f"adds {words(feature)}" for feature in addon.features]
            return Recommendation(
                type="addon", id=target_id, name=addon.name,
                price_monthly=addon.price_monthly, changes=changes,
            )
        plan = self.rules.plans[target_id]
        return Recommendation(
            type="plan", id=target_id, name=plan.name, price_monthly=plan.price_monthly,
            changes=_plan_changes(self.rules, self.rules.plans[plan_id], plan),
        )


def _compile_trigger(spec: TriggerSpec, rules: RulesFile, when: Compiled | None) -> Trigger:
    cooldown = spec.cooldown_days
    if cooldown is None:
        cooldown = rules.guards.cooldown_days
    kind = compile_kind(spec, rules)
    condition = kind.condition
    offer = OfferTerms(
        kind=spec.offer.kind,
        recommend=spec.offer.recommend,
        valid_for=spec.offer.valid_days * DAY,
        # plan_with_feature offers the lowest tier with the feature a user tried.
        feature=next((key for channel, key in condition.listens_on if channel == FEATURE), None),
    )
    return Trigger(
        id=spec.id,
        kind=kind,
        condition=condition,
        remembers=condition.remembers,
        offer=offer,
        priority=spec.priority,
        guards=build_guards(rules.guards, cooldown * DAY, set(spec.ignore_guards), spec.offer.kind),
        when=when,
        holdout=spec.holdout if spec.holdout is not None else rules.holdout,
    )


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
        label = metric.label or words(metric_id)
        after_text = "unlimited" if after is None else format_number(after)
        changes.append(f"{label}: {format_number(before)} -> {after_text}")
    changes.extend(
        f"adds {words(feature)}" for feature in target.features if feature not in current.features
    )
    return changes
