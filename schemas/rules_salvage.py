"""The parts of a rules file that are valid on their own, so that one round of
checks finds every mistake.

A file with a misspelled field fails the models' validation, and without a
valid `RulesFile` the cross-reference checks (`reference_errors`: unknown
metrics, plans, add-ons) would only run once the first mistakes are fixed: a
second round, with more errors, for whoever is editing the file (or refused
by `upsell rules apply` twice). So each entry of the catalogue and each
trigger is validated on its own, first as written, then without the fields
the validation named (so a trigger with a typo still has its metric checked);
an entry that is still invalid is replaced by an inert stand-in of the same
name, so that references to it are not reported as unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.rules import (
    TRIGGER_SPECS,
    Addon,
    ChurnSignalTrigger,
    Guards,
    Id,
    Metric,
    OfferSpec,
    Plan,
    RulesFile,
    Trigger,
)

_TRIGGER = TypeAdapter(Trigger)
_ID = TypeAdapter(Id)

# Stand-ins that refer to nothing, so that no cross-reference check fails on them.
_METRIC = Metric(kind="gauge")  # a counter would fail the checks of growth and drops
_PLAN = Plan(name="-")
_ADDON = Addon(name="-", complements=[])


def salvage(data: Any) -> RulesFile | None:
    """A RulesFile of the valid parts of `data` (a file that failed validation),
    for `reference_errors` alone: its version and guards are placeholders. None
    when the file's shape leaves nothing to cross-check (not a mapping)."""
    if not isinstance(data, dict):
        return None
    triggers = data.get("triggers")
    return RulesFile.model_construct(
        version="-",
        metrics=_entries(data.get("metrics"), Metric, _METRIC),
        plans=_entries(data.get("plans"), Plan, _PLAN),
        addons=_entries(data.get("addons"), Addon, _ADDON),
        triggers=[_trigger(raw, index) for index, raw in enumerate(triggers)]
        if isinstance(triggers, list) else [],
        guards=Guards(),
    )


def _entries(section: Any, model: type[BaseModel], stand_in: BaseModel) -> dict[str, Any]:
    if not isinstance(section, dict):
        return {}
    entries = {}
    for key, raw in section.items():
        if not _valid_id(key):
            continue  # its own error says so; a reference to it is unknown indeed
        entries[key] = _validated(raw, model.model_validate) or stand_in
    return entries


def _trigger(raw: Any, index: int) -> Any:
    """The trigger, or an inert one with its id (duplicate ids are still found)."""
    found = _validated(raw, _TRIGGER.validate_python)
    if found is not None:
        return found
    trigger_id = raw.get("id") if isinstance(raw, dict) else None
    return ChurnSignalTrigger.model_construct(
        id=str(trigger_id) if _valid_id(trigger_id) else f"\x00{index}",  # no id in a file has \x00
        kind="churn_signal", name="-", offer=OfferSpec(kind="upsell", recommend="next_tier"),
    )


def _validated(raw: Any, validate: Callable[[Any], Any]) -> Any:
    """`raw` validated as written, else without the fields its errors name; None
    if neither validates."""
    try:
        return validate(raw)
    except ValidationError as exc:
        if not isinstance(raw, dict):
            return None
        failed = {_field_of(error["loc"]) for error in exc.errors()}
    try:
        return validate({key: value for key, value in raw.items() if key not in failed})
    except ValidationError:
        return None


def _field_of(loc: tuple[str | int, ...]) -> str | int | None:
    """The entry's own field an error is about: the first part of its path,
    past a trigger kind's tag (`usage_threshold.priorty` names `priorty`)."""
    if len(loc) > 1 and loc[0] in TRIGGER_SPECS:
        return loc[1]
    return loc[0] if loc else None


def _valid_id(value: Any) -> bool:
    try:
        _ID.validate_python(value)
    except ValidationError:
        return False
    return True

