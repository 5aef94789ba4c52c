"""The product apps' README snippets run as pasted: against a broker whose topics
a worker created, and refused (nothing sent) before any worker has run."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from streams.broker import EmbeddedBroker
from streams.runtime.settings import EngineSettings, KafkaSettings
from tests.streams.kafka_helpers import read_topic, running_engine, wait_until

# The section as written for the lead; once it is in README.md, point this there.
README_SECTION = Path("/work/readme-parts/client.md")
CLIENT_SOURCE = Path(__file__).resolve().parents[2] / "clients" / "python" / "src"
SNIPPETS = re.compile(r"<!-- readme-snippet: send events -->(.*?)<!-- readme-snippet: end -->", re.S)


def snippets() -> list[str]:
    """The python blocks of the product apps' section, in order."""
    section = SNIPPETS.search(README_SECTION.read_text(encoding="utf-8"))
    assert section is not None, f"no readme-snippet markers in {README_SECTION}"
    return re.findall(r"```python\n(.*?)```", section.group(1), re.S)


async def run(code: str, bootstrap: str) -> tuple[int, str, str]:
    """The snippet as `python snippet.py` runs it, with only the client installed
    beside the interpreter's own packages."""
    env = {**os.environ, "UPSELL_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONPATH": str(CLIENT_SOURCE)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, cwd="/", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_product_apps_snippets_run_as_pasted() -> None:
    send, respond = snippets()
    with EmbeddedBroker() as broker:  # a broker of its own: the snippets use the default topics
        bootstrap = broker.bootstrap_servers
        code, _, err = await run(send, bootstrap)
        assert code != 0 and "TopicNotReady: topic 'usage-events' does not exist: nothing sent" in err

        settings = EngineSettings(kafka=KafkaSettings(bootstrap_servers=bootstrap),
                                  session_timeout_ms=6000, checkpoint_interval_ms=100)
        async with running_engine(settings) as engine:  # as `upsell worker` runs it
            code, out, err = await run(send, bootstrap)
            assert code == 0, err
            lines = out.splitlines()
            assert len(lines) == 4 and all(
                re.fullmatch(r"[0-9a-f]{32}: usage-events partition 7 offset \d+", line) for line in lines)

            offers = await read_topic(bootstrap, settings.topics.offers, 1, settle=0)
            assert offers, "the events should make an offer"
            code, out, err = await run(respond, bootstrap)
            assert code == 0, err
            assert re.fullmatch(r"declined an offer to globex \(event resp1-[0-9a-f]{32}\)\n", out)
            await wait_until(lambda: engine.metrics.events >= 5, 30, "the response to be read")
            assert engine.metrics.invalid == 0
