"""Running the `upsell` command against the topics of a test's engine settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from streams.runtime.loop import Engine
from streams.runtime.settings import EngineSettings
from tests.factories import ROOT
from tests.streams.kafka_helpers import running_engine, send_lines, topic_env, wait_until

UPSELL = [sys.executable, "-m", "streams.cli"]


def env_for(settings: EngineSettings) -> dict[str, str]:
    """The environment an operator would set for these settings, and no other UPSELL_*."""
    assert settings.kafka.bootstrap_servers is not None
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("UPSELL_")},
        "UPSELL_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        **topic_env(settings.topics), "UPSELL_GROUP_ID": settings.group_id,
        "PYTHONPATH": str(ROOT),  # this checkout's code, from any working directory
    }


async def upsell(settings: EngineSettings, *args: str, timeout: float = 60,
                 cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `upsell ARGS` in a subprocess (in a thread, so an engine running in this
    event loop keeps going meanwhile)."""
    return await asyncio.to_thread(
        subprocess.run, [*UPSELL, *args], env=env_for(settings), cwd=cwd,
        capture_output=True, text=True, timeout=timeout,
    )


async def decide(settings: EngineSettings, lines: list[bytes]) -> Engine:
    """Run an engine until it has read these lines, then stop it: its final
    checkpoint commits them and writes their state to the changelog."""
    async with running_engine(settings) as engine:
        await send_lines(settings.kafka.bootstrap_servers or "", settings.topics.events, lines)
        await wait_until(lambda: engine.metrics.events == len(lines), 60, "every event read")
    return engine
