"""The precedence at start between the rules topic and the rules file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from schemas.rules_file import RulesError, RulesProblem, parse_rules
from streams.runtime.errors import EngineError
from streams.runtime.live_rules import starting_rules
from streams.runtime.rules_feed import RulesVersion, TopicRead
from tests.factories import EXAMPLE_RULES
from triggers import RuleBook

PATH = Path("rules.yaml")
FILE = RuleBook.compile(parse_rules(EXAMPLE_RULES.read_text()))
TOPIC = RuleBook.compile(parse_rules(EXAMPLE_RULES.read_text() + "\n# another version\n"))
BROKEN = RulesError("rules.yaml", [RulesProblem(3, "version", "required field is missing")])


def _read(latest: RuleBook | None, refused: list[str] | None = None) -> TopicRead:
    version = RulesVersion(latest, 4, None) if latest is not None else None
    return TopicRead(latest=version, refused=refused or [], end=6)


def test_the_topic_latest_good_version_wins_over_the_file() -> None:
    start = starting_rules(PATH, FILE, _read(TOPIC, ["rules topic offset 5: not JSON"]))
    assert start.book is TOPIC and start.source == "rules topic offset 4"
    assert start.topic_version == TOPIC.version and start.follow_from == 6
    levels = [level for level, _ in start.notes]
    assert levels == [logging.ERROR, logging.WARNING]
    assert "`upsell rules apply rules.yaml` makes the file every worker's" in start.notes[1][1]


def test_a_broken_file_with_a_good_topic_version_runs_that_and_says_so() -> None:
    start = starting_rules(PATH, BROKEN, _read(TOPIC))
    assert start.book is TOPIC
    [(level, note)] = start.notes
    assert level == logging.WARNING
    assert note.startswith(f"the rules file rules.yaml is broken (problems: 1); running "
                           f"{TOPIC.version} from the rules topic offset 4 instead:")
    assert "rules.yaml:3: version: required field is missing" in note


def test_the_file_is_the_fallback_for_a_topic_without_a_good_version() -> None:
    start = starting_rules(PATH, FILE, _read(None, ["rules topic offset 0: not JSON"]))
    assert start.book is FILE and start.source == "file rules.yaml"
    assert start.topic_version is None


def test_with_neither_the_worker_does_not_start() -> None:
    with pytest.raises(EngineError, match="no rules to run: the rules file is broken and the "
                                          "rules topic has no good version; records refused: 1"):
        starting_rules(PATH, BROKEN, _read(None, ["rules topic offset 0: not JSON"]))
