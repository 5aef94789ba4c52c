"""`when:` conditions compiled for the hot path: small frozen objects over the state.

Each node of a rules file's `when:` tree (schemas/conditions.py) becomes one
object with two questions (the `When` protocol of triggers/trigger.py): does
the account belong now (`holds`), and when could that change with no event
(`changes_at`: a tenure bound reached, a "within 7 days" running out, a
billing period ending; None when only an event can change it). A timed
trigger waits for its segment with the second; the first runs each time a
trigger's condition is met. The leaves are in triggers/leaves.py; here are
`all`, `any` and `not`, and the compiler.

Under `not`, what the account has not told (false in every leaf) is true.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
from schemas.conditions import Condition as ConditionSpec
from schemas.rules import RulesFile
from triggers.conditions import CHURN_SIGNAL, FEATURE, MILESTONE
from triggers.leaves import (
    INFINITY,
    AttributeBetween,
    AttributeIn,
    AttributePresent,
    Compiled,
    MetricBetween,
    MrrBetween,
    PlanIn,
    Reads,
    RecentScore,
    RecentSignal,
    TenureBetween,
    typed,
)
from triggers.periods import DAY
from triggers.state import AccountState

__all__ = [
    "DAY", "Compiled", "Every", "Not", "Reads", "Some", "compile_when", "leaves", "required_leaves",
]

# An event condition's kind -> the channel its signals are recorded under (decide.py).
_CHANNELS = {"milestone": MILESTONE, "feature_gate": FEATURE, "churn_signal": CHURN_SIGNAL}


# -- composites --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Every:
    children: tuple[Compiled, ...]

    def holds(self, state: AccountState, now: float) -> bool:
        for child in self.children:  # noqa: SIM110 (a loop: no generator on the hot path)
            if not child.holds(state, now):
                return False
        return True

    def changes_at(self, state: AccountState, now: float) -> float | None:
        return _earliest(self.children, state, now)

    @property
    def reads(self) -> Reads:
        return _merged(self.children)


@dataclass(frozen=True, slots=True)
class Some:
    children: tuple[Compiled, ...]

    def holds(self, state: AccountState, now: float) -> bool:
        for child in self.children:  # noqa: SIM110 (a loop: no generator on the hot path)
            if child.holds(state, now):
                return True
        return False

    def changes_at(self, state: AccountState, now: float) -> float | None:
        return _earliest(self.children, state, now)

    @property
    def reads(self) -> Reads:
        return _merged(self.children)


@dataclass(frozen=True, slots=True)
class Not:
    child: Compiled

    def holds(self, state: AccountState, now: float) -> bool:
        return not self.child.holds(state, now)

    def changes_at(self, state: AccountState, now: float) -> float | None:
        return self.child.changes_at(state, now)

    @property
    def reads(self) -> Reads:
        return self.child.reads


def _earliest(children: tuple[Compiled, ...], state: AccountState, now: float) -> float | None:
    """The first time any child may change: the earliest the whole may."""
    times = [t for t in (child.changes_at(state, now) for child in children) if t is not None]
    return min(times) if times else None


def _merged(children: tuple[Compiled, ...]) -> Reads:
    reads = Reads()
    for child in children:
        reads = reads | child.reads
    return reads


# -- compiling ---------------------------------------------------------------------

def compile_when(spec: ConditionSpec, rules: RulesFile) -> Compiled:
    """The compiled form of a validated `when:` tree (its references already checked)."""
    if isinstance(spec, AllOf):
        return Every(tuple(compile_when(child, rules) for child in spec.all))
    if isinstance(spec, AnyOf):
        return Some(tuple(compile_when(child, rules) for child in spec.any))
    if isinstance(spec, NotOf):
        return Not(compile_when(spec.not_, rules))
    if isinstance(spec, AttributeCondition):
        return _attribute(spec)
    if isinstance(spec, PlanCondition):
        return PlanIn(frozenset(spec.plan.in_))
    if isinstance(spec, TenureCondition):
        days = spec.tenure_days
        end = INFINITY if days.at_most is None else (days.at_most + 1) * DAY
        return TenureBetween((days.at_least or 0) * DAY, end)
    if isinstance(spec, MrrCondition):
        return MrrBetween(
            _or(spec.mrr.at_least, -INFINITY), _or(spec.mrr.at_most, INFINITY),
            {plan_id: plan.price_monthly for plan_id, plan in rules.plans.items()},
            {addon_id: addon.price_monthly for addon_id, addon in rules.addons.items()},
        )
    if isinstance(spec, MetricCondition):
        return MetricBetween(
            spec.metric, rules.metrics[spec.metric].kind == "counter",
            _or(spec.at_least, -INFINITY), _or(spec.at_most, INFINITY),
            spec.percent_of_limit_at_least, spec.percent_of_limit_at_most,
            {plan_id: plan.limits[spec.metric] for plan_id, plan in rules.plans.items()
             if spec.metric in plan.limits},
        )
    if isinstance(spec, EventCondition):
        return RecentSignal(f"{_CHANNELS[spec.event]}:{spec.name}", spec.within_days * DAY)
    assert isinstance(spec, ScoreCondition)
    seconds = INFINITY if spec.within_days is None else spec.within_days * DAY
    return RecentScore(spec.score, _or(spec.at_least, -INFINITY), _or(spec.at_most, INFINITY),
                       seconds)


def _attribute(spec: AttributeCondition) -> Compiled:
    if spec.present is not None:
        return AttributePresent(spec.attribute, spec.present)
    if spec.equals is not None:
        return AttributeIn(spec.attribute, frozenset([typed(spec.equals)]))
    if spec.in_ is not None:
        return AttributeIn(spec.attribute, frozenset(typed(value) for value in spec.in_))
    return AttributeBetween(spec.attribute, _or(spec.at_least, -INFINITY),
                            _or(spec.at_most, INFINITY))


def _or(bound: float | None, default: float) -> float:
    return default if bound is None else bound


def required_leaves(node: Compiled) -> Iterator[Compiled]:
    """The leaves that hold whenever the whole tree does (reached through `all`
    only), in rules order: what a reason can quote about an account that entered."""
    if isinstance(node, Every):
        for child in node.children:
            yield from required_leaves(child)
    elif not isinstance(node, Some | Not):
        yield node


def leaves(node: Compiled) -> Iterator[Compiled]:
    """Every leaf of the tree, under `all`, `any` and `not` alike: what it reads."""
    if isinstance(node, Every | Some):
        for child in node.children:
            yield from leaves(child)
    elif isinstance(node, Not):
        yield from leaves(node.child)
    else:
        yield node
