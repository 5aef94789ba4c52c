"""The README's examples run as pasted.

Every ```sh and ```python block of its sections for the users (and of the
setup they share) says on the line before it whether it runs: `<!-- test: runs
-->`, with `, exit N` when it should fail so and `, prints` when the next block
is exactly what it prints (a `...` line there stands for any lines), or `<!--
test: not run: REASON -->`. The runnable ones run in README order, as one
reader pasting them into one terminal at the repository's root would: in one
scratch folder (with the repository's examples/), shell blocks in bash with
this checkout's `upsell` on PATH, python blocks with this interpreter and the
client package (clients/python) importable, all with the setup's
`UPSELL_KAFKA_BOOTSTRAP_SERVERS`. The setup block starts the broker and the
worker the others use (on fixed ports, as the README says); between two blocks
the test waits until the worker has committed every event sent, as a reader
would wait before the next paste. Every process a block starts is stopped at
the end, by its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError

from streams.cli.lag import measure_lag
from streams.cli.ops_errors import TopicMissing
from streams.runtime.settings import TopicSettings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CLIENT_SOURCE = ROOT / "clients" / "python" / "src"
SECTIONS = ("Trying the examples", "For product apps", "For in-app messaging", "For ops",
            "For growth teams")
BROKER_PORT, WEB_PORT = 29092, 6066
BOOTSTRAP = f"127.0.0.1:{BROKER_PORT}"
BLOCK_TIMEOUT_S = 90

MARKER = re.compile(r"<!-- test: (runs(?:, exit (?P<exit>\d+))?(?P<prints>, prints)?|not run: .+) -->")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\S*)\s*$")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence in README.md, from 1
    lang: str
    code: str
    marker: str | None  # the test marker on the line before, if any

    def where(self) -> str:
        return f"README.md:{self.line} ({self.lang} block)"


def section_blocks(text: str, title: str) -> list[Block]:
    """The fenced blocks of the `## title` section, in order."""
    lines = text.splitlines()
    start = lines.index(f"## {title}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    blocks, i = [], start + 1
    while i < end:
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = len(opening["indent"])
        close = next(j for j in range(i + 1, end) if lines[j].strip() == "```")
        code = "\n".join(line[indent:] for line in lines[i + 1:close]) + "\n"
        before = lines[i - 1].strip()
        blocks.append(Block(i + 1, opening["lang"], code, before if MARKER.fullmatch(before) else None))
        i = close + 1
    return blocks


@dataclass(frozen=True)
class Example:
    block: Block
    exit_code: int
    output: str | None  # what it prints, when the README says so


def examples(text: str) -> list[Example]:
    """The runnable blocks, in README order; every sh and python block is marked."""
    found: list[Example] = []
    for title in SECTIONS:
        blocks = section_blocks(text, title)
        for index, block in enumerate(blocks):
            if block.lang not in ("sh", "python"):
                continue
            assert block.marker is not None, (
                f"{block.where()}: say whether it runs: <!-- test: runs --> or "
                "<!-- test: not run: REASON -->")
            marker = MARKER.fullmatch(block.marker)
            assert marker is not None
            if not marker[1].startswith("runs"):
                continue
            output = None
            if marker["prints"]:
                assert index + 1 < len(blocks), f"{block.where()}: prints, but no block follows"
                output = blocks[index + 1].code
            found.append(Example(block, int(marker["exit"] or 0), output))
    return found


def matches(expected: str, actual: str) -> bool:
    """Line by line, trailing spaces aside; an expected `...` line stands for any lines."""
    pattern = "".join(
        r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n"
        for line in (line.rstrip() for line in expected.strip("\n").splitlines()))
    text = "".join(line.rstrip() + "\n" for line in actual.strip("\n").splitlines())
    return re.fullmatch(pattern, text) is not None


def test_every_block_of_the_user_sections_says_whether_it_runs() -> None:
    text = README.read_text(encoding="utf-8")
    runnable = examples(text)
    setup = runnable[0].block
    assert f"export UPSELL_KAFKA_BOOTSTRAP_SERVERS={BOOTSTRAP}" in setup.code
    assert f"--port {BROKER_PORT}" in setup.code and f"127.0.0.1:{WEB_PORT}/readyz" in setup.code
    assert len(runnable) >= 20


def test_the_matcher_takes_dots_for_any_lines() -> None:
    assert matches("a\n...\nd\n", "a\nb\nc\nd\n")
    assert matches("a\n...\nb\n", "a\nb")
    assert not matches("a\nb\n", "a\nc\n")


class Scratch:
    """The reader's terminal: a folder, an environment, and the processes started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "examples").symlink_to(ROOT / "examples")
        bin_dir = folder / ".bin"
        bin_dir.mkdir()
        for name, command in (("upsell", f"{shlex.quote(sys.executable)} -m streams.cli"),
                              ("python", shlex.quote(sys.executable))):
            shim = bin_dir / name
            shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
            shim.chmod(0o755)
        env = {key: value for key, value in os.environ.items() if not key.startswith("UPSELL_")}
        self.env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
                    "PYTHONPATH": f"{ROOT}{os.pathsep}{CLIENT_SOURCE}",
                    "UPSELL_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP}
        self.groups: list[int] = []
        self.count = 0
        self.output = (folder / "none.out", folder / "none.err")

    async def run(self, block: Block) -> tuple[int, str]:
        """Its exit code and what it printed (stdout, then stderr). Output goes to
        files: a process a block leaves running in the background keeps its pipes."""
        self.count += 1
        name = f"block-{self.count}"
        if block.lang == "python":
            script = self.folder / f"{name}.py"
            script.write_text(block.code)
            argv = [sys.executable, str(script)]
        else:
            argv = ["bash", "-e", "-o", "pipefail", "-c", block.code]
        out, err = self.output = self.folder / f"{name}.out", self.folder / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=self.folder, env=self.env, stdout=stdout, stderr=stderr,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        self.groups.append(process.pid)
        try:
            code = await asyncio.wait_for(process.wait(), BLOCK_TIMEOUT_S)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            code = await process.wait()
            pytest.fail(f"{block.where()} did not end in {BLOCK_TIMEOUT_S} s\n{self.describe()}")
        return code, out.read_text() + err.read_text()

    def describe(self) -> str:
        """What the last block printed, and the end of the worker's log."""
        out, err = self.output
        log = self.folder / "worker.log"
        tail = log.read_text().splitlines()[-30:] if log.exists() else []
        return (f"--- stdout\n{out.read_text()}--- stderr\n{err.read_text()}"
                "--- worker.log (last lines)\n" + "\n".join(tail))

    async def stop(self) -> None:
        for group in self.groups:
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_group_alive(g) for g in self.groups):
            await asyncio.sleep(0.2)
        for group in self.groups:
            _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has ended
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _caught_up() -> None:
    """Until the worker has committed every event on the topic, so that its offers,
    outcomes and state are durable (the high watermarks are the broker's, from a
    fetch of its own); at once when no broker runs."""
    deadline = time.monotonic() + 30
    while True:
        try:
            lag = await measure_lag(BOOTSTRAP, {}, "upsell-engine", TopicSettings().events)
        except (KafkaError, TopicMissing):  # no broker or no topic yet: nothing to wait for
            return
        if lag.total == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the worker is still {lag.total} events behind after 30 s")
        await asyncio.sleep(0.2)


def _assert_the_setup_worker_answers() -> None:
    """The worker on the web port is the setup's, not one that took the port meanwhile."""
    with urllib.request.urlopen(f"http://127.0.0.1:{WEB_PORT}/status", timeout=5) as response:
        broker = json.loads(response.read())["broker"]["bootstrap_servers"]
    assert broker == BOOTSTRAP, f"another worker took port {WEB_PORT} during the setup (its broker: {broker})"


async def test_the_examples_run_as_pasted(tmp_path: Path) -> None:
    runnable = examples(README.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 60  # another test's demo may hold 6066 for a while
    while not all(_port_free(port) for port in (BROKER_PORT, WEB_PORT)):
        if time.monotonic() > deadline:
            pytest.fail(f"ports {BROKER_PORT} and {WEB_PORT} must be free for the README's examples "
                        "(stop what listens there: a demo, a worker)")
        await asyncio.sleep(1)
    scratch = Scratch(tmp_path)
    try:
        for example in runnable:
            block = example.block
            code, printed = await scratch.run(block)
            assert code == example.exit_code, (
                f"{block.where()} exited {code}, not {example.exit_code}\n{scratch.describe()}")
            if example.output is not None:
                assert matches(example.output, printed), (
                    f"{block.where()} printed something else than the README's next block\n"
                    f"{scratch.describe()}")
            if block is runnable[0].block:
                _assert_the_setup_worker_answers()
            await _caught_up()
    finally:
        await scratch.stop()
