"""The rules status topic: which rules version each worker runs, for `upsell rules show`.

Each worker writes its own record (key: its worker id) when it starts, when it
switches rules, and every REPORT_EVERY_S, and deletes it (a tombstone) when it
stops cleanly. One partition, compacted: the latest record per worker is what
the topic keeps. A worker that died without stopping (SIGKILL, a lost host)
leaves its last record; its `seen_at` stops moving, and `show` says since when.
The record is a contract (format 1):

    key   worker id, UTF-8 ("host-1:4711")
    value {"v": 1, "worker": "host-1:4711", "group": "upsell-engine",
           "rules_version": "2026-11-saas+607578fb", "source": "rules topic offset 3",
           "since": "2026-11-02T09:00:00Z", "seen_at": "2026-11-02T09:05:00Z"}

Unknown fields are ignored; a record of a newer format, or not JSON, is shown
as unreadable rather than misread.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

WORKER_STATUS_FORMAT = 1
# How often a running worker rewrites its record, so that `show` can tell a worker
# that runs from one that died: a record not rewritten for 3 periods is stale.
REPORT_EVERY_S = 60.0


def worker_id() -> str:
    """This process: host and pid (a pod's name and pid 1 in Kubernetes)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class WorkerReport:
    """One worker's record, as `upsell rules show` reads it."""

    worker: str
    group: str | None
    rules_version: str | None
    source: str | None
    since: str | None
    seen_at: str | None
    problem: str | None = None  # the record could not be read

    def encode(self) -> bytes:
        return orjson.dumps({
            "v": WORKER_STATUS_FORMAT, "worker": self.worker, "group": self.group,
            "rules_version": self.rules_version, "source": self.source,
            "since": self.since, "seen_at": self.seen_at,
        })

    @classmethod
    def decode(cls, key: bytes | None, value: bytes) -> WorkerReport:
        worker = key.decode(errors="replace") if key is not None else "?"
        try:
            record: Any = orjson.loads(value)
        except orjson.JSONDecodeError:
            return cls(worker, None, None, None, None, None, "not JSON")
        if not isinstance(record, dict) or not isinstance(record.get("v"), int):
            return cls(worker, None, None, None, None, None, "no format number 'v'")
        if record["v"] > WORKER_STATUS_FORMAT:
            return cls(worker, None, None, None, None, None,
                       f"format {record['v']} is newer than this command reads")
        text = {name: record.get(name) if isinstance(record.get(name), str) else None
                for name in ("group", "rules_version", "source", "since", "seen_at")}
        return cls(worker, **text)


class StatusReporter:
    """Writes this worker's record; `start()`, `report(...)`, `stop()` (the tombstone)."""

    def __init__(self, bootstrap_servers: str, topic: str, client_options: dict[str, Any],
                 group_id: str, worker: str | None = None) -> None:
        self.topic = topic
        self.group_id = group_id
        self.worker = worker or worker_id()
        self._client = {"bootstrap_servers": bootstrap_servers, **client_options}
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(acks="all", **self._client)
        await self._producer.start()

    async def report(self, rules_version: str, source: str, since: datetime) -> None:
        assert self._producer is not None, "start() first"
        report = WorkerReport(self.worker, self.group_id, rules_version, source,
                              rfc3339(since), rfc3339(datetime.now(UTC)))
        await self._producer.send_and_wait(self.topic, report.encode(),
                                           key=self.worker.encode(), partition=0)

    async def stop(self) -> None:
        """Take this worker off the topic (a clean stop), then close."""
        if self._producer is None:
            return
        try:
            await self._producer.send_and_wait(self.topic, None, key=self.worker.encode(),
                                               partition=0)
        finally:
            await self._producer.stop()
