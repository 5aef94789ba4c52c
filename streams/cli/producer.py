"""A small client for product apps: validate events against the contract, then
send them keyed by account, so each account's events stay in order on one
partition. Invalid events are refused here, before they reach Kafka."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.events import InvalidEvent, decode_event


@dataclass
class SendReport:
    sent: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


class EventProducer:
    """`async with EventProducer(bootstrap, topic) as producer: await producer.send(raw)`."""

    def __init__(
        self, bootstrap_servers: str, topic: str = "usage-events", **client_options: Any
    ) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5, **client_options
        )

    async def __aenter__(self) -> EventProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._producer.stop()

    async def send(self, raw: bytes) -> None:
        """Validate one JSON event and queue it; raises InvalidEvent if it breaks the contract."""
        event = decode_event(raw)
        await self._producer.send(self.topic, raw, key=event.account_id.encode())

    async def send_lines(self, lines: Iterable[bytes]) -> SendReport:
        """Send JSON lines, skipping (and reporting) the invalid ones; waits for delivery."""
        report = SendReport()
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                await self.send(line)
            except InvalidEvent as exc:
                report.rejected.append((number, exc.reason))
                continue
            report.sent += 1
        await self._producer.flush()
        return report

    async def send_raw(self, raw: bytes, key: bytes | None, partition: int | None = None) -> None:
        """Send bytes as they are, unchecked: for tests and tools that must produce bad input."""
        await self._producer.send(self.topic, raw, key=key, partition=partition)

    async def flush(self) -> None:
        await self._producer.flush()
