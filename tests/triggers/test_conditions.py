"""Conditions: what each predicate says about an account and an event's numbers."""

from triggers.conditions import FEATURE, MET, METRIC, NOT_MET, SCORE, Happened, ScoreAtLeast, UsageAtLevel
from triggers.state import AccountState

STATE = AccountState("acme")
SEATS = (METRIC, "seats")


def test_usage_level_is_the_highest_level_reached_exactly_at_its_percent() -> None:
    condition = UsageAtLevel("seats", (50.0, 80.0, 90.0))
    assert [condition.level(STATE, SEATS, value, 10, 0.0) for value in (4, 5, 7.9, 8, 9, 12)] == [
        NOT_MET, 0, 0, 1, 2, 2,
    ]


def test_usage_level_is_never_met_without_a_limit() -> None:
    assert UsageAtLevel("seats", (80.0,)).level(STATE, SEATS, 1e9, None, 0.0) == NOT_MET


def test_usage_level_remembers_its_crossings_the_others_do_not() -> None:
    assert UsageAtLevel("seats", (80.0,)).remembers
    assert not Happened((FEATURE, "sso")).remembers
    assert not ScoreAtLeast("nps", 9).remembers


def test_score_at_least_is_met_at_the_value_and_not_just_below() -> None:
    condition = ScoreAtLeast("nps", 9)
    assert condition.level(STATE, (SCORE, "nps"), 9, None, 0.0) == MET
    assert condition.level(STATE, (SCORE, "nps"), 8.9, None, 0.0) == NOT_MET


def test_each_condition_listens_on_the_signal_it_is_about() -> None:
    assert UsageAtLevel("seats", (80.0,)).listens_on == (SEATS,)
    assert Happened((FEATURE, "sso")).listens_on == ((FEATURE, "sso"),)
    assert ScoreAtLeast("csat", 4).listens_on == ((SCORE, "csat"),)
