"""What `pip install .` ships: every package of the tree and the examples, so that
a non-editable install (the Docker image's) runs `upsell demo`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from streams.broker import free_port
from streams.cli.examples import example_path
from tests.factories import ROOT
from tests.test_deploy_files import image_build_inputs

# pip's words when it cannot reach an index for the build backend (setuptools).
OFFLINE = re.compile(r"No matching distribution|Could not find a version|NewConnectionError|"
                     r"Network is unreachable|Temporary failure in name resolution|timed out")


def _setuptools_config() -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config


def test_every_package_of_the_tree_is_shipped() -> None:
    listed = set(_setuptools_config()["packages"])  # type: ignore[arg-type]
    in_tree = set(find_packages(str(ROOT), include=["schemas*", "triggers*", "streams*"]))
    assert in_tree <= listed, f"add to [tool.setuptools] packages: {sorted(in_tree - listed)}"
    assert listed - in_tree == {"upsell_examples"}


def test_the_examples_are_found_in_a_checkout() -> None:
    assert example_path("saas-rules.yaml").read_bytes() == (ROOT / "examples/saas-rules.yaml").read_bytes()
    assert example_path("events.jsonl").is_file()


def test_a_non_editable_install_runs_the_demo(tmp_path: Path) -> None:
    """The wheel, built from exactly what the Dockerfile copies to build it, installed into a
    fresh venv that borrows only the dependencies of this one (not its editable
    upsell), then `upsell demo` from a directory with no examples/ in it."""
    source = tmp_path / "src"
    source.mkdir()
    for name in image_build_inputs():
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=180)
    if built.returncode != 0 and OFFLINE.search(built.stdout + built.stderr):
        pytest.skip("cannot build the wheel offline: pip found no setuptools for the build "
                    f"environment ({(built.stdout + built.stderr).strip().splitlines()[-1]})")
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "dist").glob("upsell-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # The dependencies, from this environment's site-packages: a path in a .pth file
    # is added to sys.path after the venv's own, and the .pth files there (this
    # environment's editable upsell) are not run.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = venv / "bin" / "python"
    installed = subprocess.run([*pip, "--python", str(python), "install", "--no-deps",
                                "--no-index", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSELL_", "PYTHON"))}
    demo = subprocess.run([str(venv / "bin" / "upsell"), "demo", "--duration", "8",
                           "--accounts", "100", "--rate", "400", "--web-port", str(free_port())],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=150)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "Traceback" not in demo.stdout + demo.stderr
    assert f"rules {site / 'upsell_examples' / 'saas-rules.yaml'}" in demo.stdout
    assert "[worker ready after" in demo.stdout
    assert re.search(r"^offers published: [1-9]\d*$", demo.stdout, re.MULTILINE), demo.stdout[-2000:]
