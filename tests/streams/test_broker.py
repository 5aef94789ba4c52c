"""The embedded broker speaks real Kafka to aiokafka and has a controllable lifecycle."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from streams.broker import BrokerError, EmbeddedBroker, find_broker_binary, free_port
from streams.broker.probe import wait_until_answering
from tests.streams.kafka_helpers import create_topic

#: Tansu holds a group join for about half the session timeout (~3 s with these),
#: so tests use short group timeouts instead of the clients' defaults.
GROUP_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def new_producer(bootstrap: str, **kwargs: object) -> AIOKafkaProducer:
    # No idempotence: Tansu has no InitProducerId (see BROKER_NOTES.md).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, **kwargs
    )


async def drain(
    consumer: AIOKafkaConsumer, expected: int, timeout: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Fetch until ``expected`` records arrived (fails on timeout or on extras)."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(records) < expected:
        assert time.monotonic() < deadline, f"got {len(records)}/{expected} records"
        batches = await consumer.getmany(timeout_ms=200)
        for batch in batches.values():
            records.extend(batch)
    assert len(records) == expected
    return records


def listening_sockets(port: int) -> list[tuple[str, str, int]]:
    """(table, local address hex, socket inode) of LISTEN sockets on ``port`` (Linux)."""
    found = []
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            addr, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = TCP_LISTEN
                found.append((table, addr, int(fields[9])))
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def outbound_ipv4() -> str | None:
    """A non-loopback local address, if the host has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        addr: str = sock.getsockname()[0]
    return None if addr.startswith("127.") else addr


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_broker_listens_on_loopback_only(broker: EmbeddedBroker) -> None:
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
    listeners = listening_sockets(broker.port)
    # Exactly one IPv4 listener, on 127.0.0.1 (little-endian hex), owned by our broker.
    assert [(table, addr) for table, addr, _ in listeners] == [("tcp", "0100007F")]
    assert broker.pid is not None
    assert listeners[0][2] in socket_inodes(broker.pid)
    other = outbound_ipv4()
    if other is not None:
        with pytest.raises(OSError):
            socket.create_connection((other, broker.port), timeout=1).close()


@pytest.mark.asyncio
async def test_produce_and_consume_1000_keyed_records(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}-keyed"
    await create_topic(broker.bootstrap_servers, topic, partitions=4)
    sent = [(f"user-{i % 50}".encode(), f"event-{i}".encode()) for i in range(1000)]

    producer = new_producer(broker.bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in sent]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert {m.partition for m in metadata} == {0, 1, 2, 3}

    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(4)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records = await drain(consumer, expected=1000)
    finally:
        await consumer.stop()

    assert sorted((r.key, r.value) for r in records) == sorted(sent)
    partitions_by_key: dict[bytes | None, set[int]] = defaultdict(set)
    values_by_key: dict[bytes | None, list[bytes | None]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        partitions_by_key[r.key].add(r.partition)
        values_by_key[r.key].append(r.value)
    assert all(len(p) == 1 for p in partitions_by_key.values())  # keyed => one partition
    for key, values in values_by_key.items():  # and per-key order is kept
        assert values == [v for k, v in sent if k == key]


@pytest.mark.asyncio
async def test_group_commit_and_resume_from_committed_offset(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    topic, group = f"{topic_prefix}-grp", f"{topic_prefix}-group"
    await create_topic(broker.bootstrap_servers, topic, partitions=4)
    producer = new_producer(broker.bootstrap_servers)
    await producer.start()

    def group_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            **GROUP_TIMEOUTS,
        )

    try:
        for i in range(100):
            await producer.send(topic, value=f"old-{i}".encode(), key=str(i).encode())
        await producer.flush()

        first = group_consumer()
        began = time.monotonic()
        await first.start()
        try:
            old = await drain(first, expected=100)
            join_seconds = time.monotonic() - began
            await first.commit()
            committed = {tp: await first.committed(tp) for tp in first.assignment()}
        finally:
            await first.stop()
        print(f"group join + 100 records: {join_seconds:.2f}s")
        assert join_seconds < 15
        assert len(committed) == 4
        per_partition: dict[int, int] = defaultdict(int)
        for r in old:
            per_partition[r.partition] += 1
        assert {tp.partition: off for tp, off in committed.items()} == {
            p: per_partition.get(p, 0) for p in range(4)
        }

        for i in range(10):
            await producer.send(topic, value=f"new-{i}".encode(), key=str(i).encode())
        await producer.flush()

        # Re-read through a consumer of the same group that assigns the partitions
        # itself: it starts from the committed offsets without a second group join,
        # which Tansu makes slow (~11 s for generation 2 with a 6 s session timeout).
        second = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        await second.start()
        try:
            second.assign(list(committed))
            assert {tp: await second.committed(tp) for tp in committed} == committed
            new = await drain(second, expected=10)
            await asyncio.sleep(0.5)  # nothing older than the commit is redelivered
            assert not any((await second.getmany(timeout_ms=200)).values())
        finally:
            await second.stop()
        assert sorted(r.value for r in new) == sorted(f"new-{i}".encode() for i in range(10))
    finally:
        await producer.stop()


def test_stop_is_idempotent_and_frees_the_port() -> None:
    broker = EmbeddedBroker()
    assert broker.pid is None  # __init__ starts nothing
    broker.start()
    port, pid = broker.port, broker.pid
    assert pid is not None
    broker.stop()
    broker.stop()
    assert broker.pid is None and not broker.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    # The same port can be served again (a restart starts with empty topics).
    with EmbeddedBroker(port=port) as again:
        assert again.bootstrap_servers == f"127.0.0.1:{port}"
    assert not again.running


def test_stop_works_while_paused() -> None:
    broker = EmbeddedBroker().start()
    broker.pause()
    began = time.monotonic()
    broker.stop()
    assert time.monotonic() - began < 2  # SIGTERM acted on, no SIGKILL fallback needed
    assert not broker.running and not broker.paused


def test_start_fails_clearly_when_port_taken(broker: EmbeddedBroker) -> None:
    with pytest.raises(BrokerError, match="already in use"):
        EmbeddedBroker(port=broker.port).start()


def test_missing_binary_override_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_broker_binary().is_file()
    monkeypatch.setenv("CALF_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerError, match="CALF_TANSU_BIN"):
        find_broker_binary()


def test_binary_override_is_used_as_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(fake))
    assert find_broker_binary() == fake


@pytest.mark.asyncio
async def test_start_works_inside_a_running_event_loop() -> None:
    # As from an async fixture or CLI: start() is synchronous and must not need the loop.
    asyncio.get_running_loop()
    with EmbeddedBroker() as broker:
        producer = new_producer(broker.bootstrap_servers)
        await producer.start()
        await producer.stop()


def test_probe_refuses_a_listener_that_is_not_kafka() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(BrokerError, match="not ready in time"):
            wait_until_answering("127.0.0.1", port, time.monotonic() + 1.0, lambda: None)
        assert time.monotonic() - began < 5


def test_probe_stops_at_once_when_the_broker_exits() -> None:
    with pytest.raises(BrokerError, match="exited with code 3"):
        wait_until_answering("127.0.0.1", free_port(), time.monotonic() + 10, lambda: 3)


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.asyncio
async def test_produce_during_pause_waits_and_completes_after_resume(topic_prefix: str) -> None:
    # Own broker: a paused session broker would stall other tests if this one failed.
    with EmbeddedBroker() as broker:
        topic = f"{topic_prefix}-pause"
        await create_topic(broker.bootstrap_servers, topic, partitions=1)
        producer = new_producer(broker.bootstrap_servers, request_timeout_ms=30000)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"before")
            broker.pause()
            try:
                pending = asyncio.ensure_future(producer.send_and_wait(topic, b"during"))
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pending), timeout=1.0)
                assert not pending.done()
            finally:
                broker.resume()
            metadata = await asyncio.wait_for(pending, timeout=10)
            assert metadata.offset == 1
        finally:
            await producer.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_broker_forever_prints_bootstrap_and_stops_on_signal(sig: signal.Signals) -> None:
    root = Path(__file__).resolve().parents[2]
    code = "from streams.broker import run_broker_forever; run_broker_forever(None)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("bootstrap: 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
