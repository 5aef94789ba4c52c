"""Trigger kinds: one registered module per rules-file kind, indexed by its condition."""

import pytest

from schemas.rules import TRIGGER_SPECS, MilestoneTrigger
from tests.factories import book
from triggers.conditions import CHURN_SIGNAL, FEATURE, METRIC, MILESTONE, SCORE
from triggers.kinds import KINDS, register


def test_every_kind_of_the_rules_file_has_a_registered_kind_for_its_model() -> None:
    assert set(KINDS) == set(TRIGGER_SPECS)
    for name, registration in KINDS.items():
        assert registration.name == name
        assert registration.spec is TRIGGER_SPECS[name]


def test_a_kind_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register("milestone", MilestoneTrigger, KINDS["milestone"].build)


def test_triggers_are_indexed_under_the_signals_their_conditions_listen_on() -> None:
    listeners = {signal: [t.id for t in triggers] for signal, triggers in book().listeners.items()}
    assert listeners == {
        (METRIC, "seats"): ["seats-80", "seats-100"],  # in rules order
        (METRIC, "api_calls"): ["calls-80"],
        (FEATURE, "advanced_analytics"): ["gate"],
        (MILESTONE, "project_completed"): ["done"],
        (SCORE, "nps"): ["promoter"],
        (CHURN_SIGNAL, "cancellation_started"): ["leaving"],
    }


def test_only_a_feature_gate_names_the_feature_plan_with_feature_looks_for() -> None:
    features = {t.id: t.offer.feature for triggers in book().listeners.values() for t in triggers}
    assert features["gate"] == "advanced_analytics"
    assert {trigger for trigger, feature in features.items() if feature is not None} == {"gate"}
