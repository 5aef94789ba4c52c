"""`when:` conditions of the rules file: which accounts a trigger applies to.

A condition is a small tree written as YAML maps. A leaf asks one question
about the account (an attribute, the plan, its tenure, its MRR, a metric's
level, a recent event or score); `all`, `any` and `not` combine them to any
depth within DEPTH_LIMIT and NODE_LIMIT. Each kind of node is told apart by
the key it has (`attribute`, `plan`, `metric`, `all`, ...), not by a `kind:`
field: the YAML stays short, and an error points inside the one branch the
author meant (`triggers.3.when.all.1.attribute: ...`), not at every branch the
node failed to match.

A question about something the account has not told (an attribute never sent,
a gauge never read, a custom-priced plan's MRR) is false, never an error: a
segment is about what is known. Cross-checks against the catalogue (metrics
and plans that exist) are in `schemas/rules.py`, `reference_errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

# As `Id` in schemas/rules.py: the names of metrics, plans, milestones, features.
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
# The keys an account event may set (its fields and its traits).
AttributeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Scalar = str | float | bool
Within = Annotated[float, Field(gt=0, le=3660, description="Days back from now.")]

# Bounds that real rules never reach, so that a rules file cannot make the hot
# path walk a huge tree: `holds` runs each time a trigger's condition is met.
DEPTH_LIMIT = 8
NODE_LIMIT = 64


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    TAG: ClassVar[str]  # the key that tells this node from the others


class AttributeCondition(_Strict):
    """An account attribute (industry, employees, country, contract_term or a custom
    trait): equal to a value, one of several, within bounds, or present at all."""

    TAG = "attribute"

    attribute: AttributeName
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1, max_length=100)
    at_least: float | None = None
    at_most: float | None = None
    present: bool | None = Field(
        default=None, description="true: the account has sent it; false: it has not."
    )

    @model_validator(mode="after")
    def _one_test(self) -> AttributeCondition:
        tests = [self.equals is not None, self.in_ is not None, self.present is not None,
                 self.at_least is not None or self.at_most is not None]
        if sum(tests) != 1:
            raise ValueError(
                "give one test of the attribute: equals, in, present, or at_least/at_most"
            )
        _ordered(self.at_least, self.at_most)
        return self


class PlanSet(_Strict):
    in_: list[Name] = Field(alias="in", min_length=1, max_length=100)


class PlanCondition(_Strict):
    """The account's current plan is one of these."""

    TAG = "plan"

    plan: PlanSet


class Range(_Strict):
    at_least: Annotated[float, Field(ge=0)] | None = None
    at_most: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Range:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least, at_most or both")
        _ordered(self.at_least, self.at_most)
        return self


class DayRange(_Strict):
    """Whole days, both bounds included: at_most 180 holds all through day 180."""

    at_least: Annotated[int, Field(ge=0, le=36_600)] | None = None
    at_most: Annotated[int, Field(ge=0, le=36_600)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> DayRange:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least, at_most or both")
        _ordered(self.at_least, self.at_most)
        return self


class TenureCondition(_Strict):
    """Whole days since signup (the subscription's `started_at`)."""

    TAG = "tenure_days"

    tenure_days: DayRange


class MrrCondition(_Strict):
    """Monthly recurring revenue: the plan's price plus the owned add-ons' prices from
    the catalogue. Unknown (a custom price, an unknown plan or add-on): false."""

    TAG = "mrr"

    mrr: Range


class MetricCondition(_Strict):
    """A metric's level now (a gauge's latest reading, a counter's total this period),
    absolute or in percent of the plan's limit (an unlimited plan: false)."""

    TAG = "metric"

    metric: Name
    at_least: float | None = None
    at_most: float | None = None
    percent_of_limit_at_least: Annotated[float, Field(ge=0)] | None = None
    percent_of_limit_at_most: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> MetricCondition:
        bounds = (self.at_least, self.at_most,
                  self.percent_of_limit_at_least, self.percent_of_limit_at_most)
        if all(bound is None for bound in bounds):
            raise ValueError(
                "give at_least, at_most, percent_of_limit_at_least or percent_of_limit_at_most"
            )
        _ordered(self.at_least, self.at_most)
        _ordered(self.percent_of_limit_at_least, self.percent_of_limit_at_most)
        return self


class EventCondition(_Strict):
    """An event of this kind and name arrived within the last `within_days`
    (the event being decided is not counted yet)."""

    TAG = "event"

    event: Literal["milestone", "feature_gate", "churn_signal"]
    name: Name
    within_days: Within


class ScoreCondition(_Strict):
    """The latest score on this scale, within bounds, if given within `within_days`
    (none: however old)."""

    TAG = "score"

    score: Literal["nps", "csat", "health_score"]
    at_least: float | None = None
    at_most: float | None = None
    within_days: Within | None = None

    @model_validator(mode="after")
    def _bounded(self) -> ScoreCondition:
        _ordered(self.at_least, self.at_most)
        return self


class AllOf(_Strict):
    """Every condition holds."""

    TAG = "all"

    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    """At least one condition holds."""

    TAG = "any"

    any: list[Condition] = Field(min_length=1)


class NotOf(_Strict):
    """The condition does not hold."""

    TAG = "not"

    not_: Condition = Field(alias="not")


LEAVES = (AttributeCondition, PlanCondition, TenureCondition, MrrCondition, MetricCondition,
          EventCondition, ScoreCondition)
NODES = (*LEAVES, AllOf, AnyOf, NotOf)
# The keys that tell the nodes apart, in the order they are looked for.
TAGS = tuple(node.TAG for node in NODES)


def _tag_of(value: Any) -> str | None:
    """Which node a YAML map is: the first tag among its keys (None: not a condition)."""
    if isinstance(value, dict):
        return next((tag for tag in TAGS if tag in value), None)
    return getattr(value, "TAG", None)


Condition = Annotated[
    Annotated[AttributeCondition, Tag("attribute")]
    | Annotated[PlanCondition, Tag("plan")]
    | Annotated[TenureCondition, Tag("tenure_days")]
    | Annotated[MrrCondition, Tag("mrr")]
    | Annotated[MetricCondition, Tag("metric")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[ScoreCondition, Tag("score")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(
        _tag_of,
        custom_error_type="condition_kind",
        custom_error_message="a condition is a map with one of the keys: " + ", ".join(TAGS),
    ),
]

for _node in (AllOf, AnyOf, NotOf):
    _node.model_rebuild()

Node = (AttributeCondition | PlanCondition | TenureCondition | MrrCondition | MetricCondition
        | EventCondition | ScoreCondition | AllOf | AnyOf | NotOf)


def children(node: Node) -> list[tuple[tuple[str | int, ...], Node]]:
    """A node's sub-conditions, each with its path below the node."""
    if isinstance(node, AllOf):
        return [(("all", index), child) for index, child in enumerate(node.all)]
    if isinstance(node, AnyOf):
        return [(("any", index), child) for index, child in enumerate(node.any)]
    if isinstance(node, NotOf):
        return [(("not",), node.not_)]
    return []


def walk(node: Node, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Node]]:
    """Every node of the tree with its path, the root first, depth first."""
    yield path, node
    for below, child in children(node):
        yield from walk(child, (*path, *below))


def size_problem(root: Node) -> str | None:
    """Why a tree is too big for the hot path, or None."""
    nodes = 0
    depth = 0
    for path, _ in walk(root):
        nodes += 1
        # Each level adds ("all", i), ("any", i) or ("not",) to the path.
        depth = max(depth, 1 + sum(1 for part in path if part in ("all", "any", "not")))
    if depth > DEPTH_LIMIT:
        return f"conditions nest {depth} levels deep: at most {DEPTH_LIMIT}"
    if nodes > NODE_LIMIT:
        return f"{nodes} conditions in one 'when': at most {NODE_LIMIT}"
    return None


def _ordered(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError("at_least must not be greater than at_most")
