"""The registry of trigger kinds: a rules-file `kind` -> how to compile it.

A kind is one module in this package. It declares a model in schemas/rules.py
(a member of the `Trigger` union, which is what the rules file and its JSON
Schema accept), and registers here the function that compiles an entry of
that model into a `TriggerKind`: the condition it fires on (which says what
the rule book indexes it under) and how it words its reason. Nothing else
dispatches on the kind.

Timed kinds (before_renewal, tenure, inactivity) compile to a condition on
time (`TimedCondition`: windows the sweep finds due, triggers/timers.py);
a `when:` segment is not a kind but narrows any trigger (triggers/when.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from schemas.rules import RulesFile, Trigger
from triggers.trigger import TriggerKind

Spec = TypeVar("Spec", bound=BaseModel)


@dataclass(frozen=True)
class Registration(Generic[Spec]):
    """How one rules-file kind compiles."""

    name: str
    spec: type[Spec]  # its model in schemas/rules.py
    build: Callable[[Spec, RulesFile], TriggerKind]


KINDS: dict[str, Registration[Any]] = {}


def register(name: str, spec: type[Spec], build: Callable[[Spec, RulesFile], TriggerKind]) -> None:
    """Make `name` a trigger kind; called once, by the kind's own module."""
    if name in KINDS:
        raise ValueError(f"trigger kind {name!r} is registered twice")
    KINDS[name] = Registration(name, spec, build)


def compile_kind(spec: Trigger, rules: RulesFile) -> TriggerKind:
    """The compiled kind of one rules-file trigger entry."""
    registration = KINDS.get(spec.kind)
    if registration is None or not isinstance(spec, registration.spec):
        raise TypeError(f"no trigger kind registered for {spec.kind!r}")
    return registration.build(spec, rules)
