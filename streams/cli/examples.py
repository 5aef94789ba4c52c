"""The sample rules and events: examples/ in the source tree, shipped in the
wheel as the data-only package `upsell_examples` (pyproject.toml maps it onto
examples/), so `upsell demo` runs from a plain `pip install .` too."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parents[2] / "examples"


def example_path(name: str) -> Path:
    """examples/NAME, from the installed package, or from the source tree when the
    code runs from a checkout that was not installed (PYTHONPATH=.)."""
    try:
        installed = files("upsell_examples")
    except ModuleNotFoundError:
        return _SOURCE_TREE / name
    return Path(str(installed / name))  # a wheel installs as files: no extraction needed
