"""Load a rules file from YAML, with errors that point at the file, line and field.

PyYAML's composer keeps the position of every node; we convert the node tree
ourselves so that each path (`triggers.3.metric`) remembers its line. Pydantic
errors carry the same paths, so every error can be shown as
`rules.yaml:42: triggers.3.metric: unknown metric 'seatz'`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.conditions import TAGS as CONDITION_TAGS
from schemas.rules import TRIGGER_SPECS, RulesFile, reference_errors
from schemas.rules_salvage import salvage

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class RulesProblem:
    """One thing wrong with a rules file."""

    line: int | None
    field: str
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class RulesError(ValueError):
    """A rules file that cannot be used; `problems` lists every error found."""

    def __init__(self, source: str, problems: list[RulesProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problem.render(source) for problem in problems))


@dataclass(frozen=True)
class LoadedRules:
    """A validated rules file, the exact text it came from and its fingerprint."""

    rules: RulesFile
    digest: str
    text: str = field(default="", repr=False)  # what the rules topic carries (rules_record.py)

    @property
    def version(self) -> str:
        """The version offers name: the declared one plus a short content hash, so two
        different files that forgot to bump `version` are still told apart."""
        return f"{self.rules.version}+{self.digest[:8]}"


def load_rules(path: str | Path) -> LoadedRules:
    """Read and validate a rules file; raise RulesError with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(path), [RulesProblem(None, "", f"cannot read: {exc.strerror}")]) from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, source: str = "<rules>") -> LoadedRules:
    """Validate rules given as YAML text."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesError(source, [RulesProblem(line, "", f"not valid YAML: {problem}")]) from None
    if node is None:
        raise RulesError(source, [RulesProblem(None, "", "the file is empty")])

    lines: dict[PathKey, int] = {}
    data = _to_python(node, (), lines)
    try:
        rules = RulesFile.model_validate(data)
    except ValidationError as exc:
        # The cross-references too, of what is valid, in the same round (rules_salvage.py).
        salvaged = salvage(data)
        references = reference_errors(salvaged) if salvaged is not None else []
        problems = _problems_from_validation(exc, lines) + _reference_problems(references, lines)
        raise RulesError(source, sorted(problems, key=lambda p: p.line or 0)) from None
    references = reference_errors(rules)
    if references:
        raise RulesError(source, _reference_problems(references, lines))
    return LoadedRules(rules=rules, digest=hashlib.sha256(text.encode()).hexdigest(), text=text)


def _reference_problems(
    references: list[tuple[PathKey, str]], lines: dict[PathKey, int]
) -> list[RulesProblem]:
    return [RulesProblem(_line_of(path, lines), _dotted(path), msg) for path, msg in references]


def _to_python(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            result[key] = _to_python(value_node, (*path, key), lines)
            # Point a field's errors at its key's line, not at its value's.
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, index), lines) for index, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """Resolve a scalar the way yaml.safe_load would (ints, floats, null, booleans)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _problems_from_validation(
    exc: ValidationError, lines: dict[PathKey, int]
) -> list[RulesProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        path = _data_path(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field (check its spelling)"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "value_error":
            message = message.removeprefix("Value error, ")  # our validators' own words
        problems.append(RulesProblem(_line_of(path, lines), _dotted(path), message))
    return problems


def _data_path(loc: tuple[str | int, ...]) -> PathKey:
    """Drop the union tags pydantic inserts (a trigger's kind, e.g. 'usage_threshold', or
    a condition's key, e.g. 'all') from an error path, at any depth, keeping only keys
    and indexes that exist in the file."""
    path: list[str | int] = []
    after_tag = False  # the part after a tag is the field it names ('not', 'not', ...)
    for part in loc:
        if not after_tag and isinstance(part, str) and _is_union_tag(path, part):
            after_tag = True
            continue
        after_tag = False
        path.append(part)
    return tuple(path)


def _is_union_tag(path: list[str | int], part: str) -> bool:
    """Is `part` the tag of the union expected at `path`? A trigger is one at
    `triggers.N`; a condition is one at `when`, `not`, `all.N` and `any.N`."""
    if len(path) == 2 and path[0] == "triggers":
        return part in TRIGGER_SPECS
    if not path:
        return False
    last = path[-1]
    at_condition = last in ("when", "not") or (
        isinstance(last, int) and len(path) >= 2 and path[-2] in ("all", "any")
    )
    return at_condition and part in CONDITION_TAGS


def _line_of(path: PathKey, lines: dict[PathKey, int]) -> int | None:
    """The line of the deepest part of `path` present in the file."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def _dotted(path: PathKey) -> str:
    return ".".join(str(part) for part in path)
