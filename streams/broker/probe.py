"""Is a just-spawned broker answering Kafka requests yet? Asked with aiokafka.

`EmbeddedBroker.start()` is synchronous and is called from pytest fixtures and
CLIs that may already be inside a running event loop, where `asyncio.run` is
not allowed; so the probe runs in a short-lived thread with an event loop of
its own, and the caller's loop (if any) is never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from streams.broker.exceptions import BrokerError

#: One attempt's limit: a broker that is up answers a Metadata request in milliseconds.
PROBE_TIMEOUT_S = 2.0
#: Pause between attempts; Tansu is usually ready ~30 ms after spawning.
_RETRY_S = 0.02


def wait_until_answering(
    host: str, port: int, deadline: float, exit_code: Callable[[], int | None]
) -> None:
    """Block until `host:port` answers Kafka Metadata and advertises itself as `host:port`.

    `exit_code` is polled between attempts (the child's `poll`), so a broker that
    dies fails fast. Raises BrokerError when it exits or at `deadline` (monotonic).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsell-broker-probe") as pool:
        pool.submit(asyncio.run, _wait(host, port, deadline, exit_code)).result()


async def _wait(host: str, port: int, deadline: float, exit_code: Callable[[], int | None]) -> None:
    last_error = "no attempt made"
    while True:
        code = exit_code()
        if code is not None:
            raise BrokerError(f"broker exited with code {code} during startup")
        budget = max(0.05, min(PROBE_TIMEOUT_S, deadline - time.monotonic()))
        try:
            await asyncio.wait_for(_probe(host, port), budget)
            return
        except (OSError, KafkaError, TimeoutError, ValueError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise BrokerError(f"broker at {host}:{port} not ready in time ({last_error})")
        await asyncio.sleep(_RETRY_S)


async def _probe(host: str, port: int) -> None:
    """One attempt; raises OSError (not listening yet), KafkaError or ValueError."""
    # A plain TCP connect first: until the port listens, aiokafka's bootstrap would
    # log an error for every attempt.
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()
    client = AIOKafkaClient(
        bootstrap_servers=f"{host}:{port}",
        client_id="upsell-broker-probe",
        request_timeout_ms=int(PROBE_TIMEOUT_S * 1000),
    )
    try:
        await client.bootstrap()  # ApiVersions, then Metadata
        advertised = {(broker.host, broker.port) for broker in client.cluster.brokers()}
    finally:
        await client.close()
    if (host, port) not in advertised:
        raise ValueError(f"broker advertises {sorted(advertised)}, expected {(host, port)}")
