"""The settings as people meet them: `--help` lists every UPSELL_* variable with
its default, and a bad value is reported by its variable's name.

Both are generated from the pydantic settings models, so they cannot drift
from what the worker reads.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

#: Variables with the prefix that are not the worker's settings.
_OTHER_USES = ("UPSELL_TEST_", "UPSELL_FAUST_")


@dataclass(frozen=True)
class SettingDoc:
    env: str
    default: str
    description: str
    secret: bool


def _models(model: type[BaseSettings]) -> Iterator[type[BaseSettings]]:
    """The model and the settings models nested in it, each with its own prefix."""
    yield model
    for field in model.model_fields.values():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            yield from _models(nested)


def _prefix(model: type[BaseSettings]) -> str:
    return str(model.model_config.get("env_prefix", ""))


def settings_docs(model: type[BaseSettings]) -> list[SettingDoc]:
    """Every setting the model reads from the environment, nested models included."""
    docs = []
    for each in _models(model):
        for name, field in each.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseSettings):
                continue
            choices = [str(arg) for arg in typing.get_args(kind)
                       if typing.get_origin(kind) is typing.Literal]
            description = field.description or ""
            if choices:
                description = " | ".join(choices) + (f". {description}" if description else "")
            docs.append(SettingDoc(
                env=_prefix(each) + name.upper(),
                default=_show(field.get_default(call_default_factory=False)),
                description=description,
                secret=SecretStr in (kind, *typing.get_args(kind)),
            ))
    return docs


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path | int | float | str):
        return str(value)
    return repr(value)


def epilog(model: type[BaseSettings]) -> str:
    """The settings table for a command's --help (click keeps a paragraph after
    `\\b` as it is)."""
    docs = settings_docs(model)
    width = max(len(f"{doc.env}={doc.default}") for doc in docs)
    lines = ["\b", "Settings: environment variables (a flag above wins over its variable), "
                   "with their defaults:"]
    for doc in docs:
        lines.append(f"  {f'{doc.env}={doc.default}':<{width}}  {doc.description}".rstrip())
    return "\n".join(lines)


def setting_errors(exc: ValidationError, model: type[BaseSettings]) -> list[str]:
    """One line per problem, naming the variable and its value (never a secret's)."""
    by_title = {each.__name__: each for each in _models(model)}
    owner = by_title.get(exc.title, model)
    secrets = {doc.env for doc in settings_docs(model) if doc.secret}
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across fields: the input is every value
            lines.append(f"{_prefix(owner)}*: {message}")
            continue
        env = _prefix(owner) + str(error["loc"][0]).upper()
        value = "(hidden)" if env in secrets else repr(error.get("input"))
        lines.append(f"{env}={value}: {message}")
    return lines


def unknown_variables(environ: Mapping[str, str], model: type[BaseSettings]) -> list[str]:
    """UPSELL_* variables the worker does not read (a typo is silently ignored
    otherwise), each with the closest setting's name when there is one."""
    known = [doc.env for doc in settings_docs(model)]
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("UPSELL_") or upper in known or upper.startswith(_OTHER_USES):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a setting of the worker: ignored{hint}")
    return warnings
