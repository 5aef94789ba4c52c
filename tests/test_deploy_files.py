"""The deployment files (Dockerfile, docker-compose.yml, deploy/prometheus.yml)
agree with the code: setting names, topic layout, ports. No Docker needed; the
files are parsed, and the image's health check command is run against a stub."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from streams.runtime.settings import KafkaSettings, TopicSettings
from streams.runtime.topics import topic_specs
from streams.worker.config import WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def _load_yaml(relative: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / relative).read_text())
    assert isinstance(data, dict), f"{relative} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_yaml("docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = compose["services"]
    return services


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return _load_yaml("deploy/prometheus.yml")


def _env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, from either compose syntax."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def _instruction(name: str) -> list[str]:
    return [args for keyword, args in _dockerfile() if keyword == name]


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _instruction("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def _setting_env_names() -> set[str]:
    """Every environment variable the worker's settings read: each settings class
    has its own prefix; nested settings are read by their own class."""
    names: set[str] = set()
    for cls in (WorkerSettings, KafkaSettings, TopicSettings):
        prefix = cls.model_config["env_prefix"]
        for field_name, field in cls.model_fields.items():
            nested = isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings)
            if not nested:
                names.add(f"{prefix}{field_name}".upper())
    return names


def _published(service: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(host_ip, host_port, container_port) for each published port, either syntax."""
    result: list[tuple[str | None, str, str]] = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            result.append((port.get("host_ip"), str(port.get("published", "")), str(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) == 3:
            result.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            result.append((None, parts[0], parts[1]))
        else:
            result.append((None, "", parts[0]))
    return result


def _listeners(value: str) -> dict[str, str]:
    """'NAME://host:port,...' -> {NAME: 'host:port'}."""
    return dict(item.split("://", 1) for item in value.split(","))


# --- the stack ---------------------------------------------------------------


def test_services_exist(services: dict[str, Any]) -> None:
    assert {"kafka", "topics", "worker", "prometheus"} <= set(services)


def test_kafka_is_apache_kafka_in_kraft_mode(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    listeners = _listeners(env["KAFKA_LISTENERS"])
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    controller_port = listeners[controller].rsplit(":", 1)[1]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:{controller_port}"
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols), "every listener needs a security protocol"
    assert controller not in _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    for name in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[name] == "1", f"{name}: a single broker can hold one replica"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_published_ports_bind_loopback_only(services: dict[str, Any]) -> None:
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"kafka", "prometheus"}
    for name in publishing:
        for host_ip, _, _ in _published(services[name]):
            assert host_ip == LOOPBACK, f"{name} publishes a port on {host_ip or 'every interface'}"
    assert ("127.0.0.1", "9090", "9090") in _published(services["prometheus"])


def test_kafka_host_listener_is_advertised_as_published(services: dict[str, Any]) -> None:
    env = _env(services["kafka"])
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    [(_, host_port, container_port)] = _published(services["kafka"])
    [external] = [name for name, address in listeners.items() if address.endswith(f":{container_port}")]
    assert advertised[external] == f"localhost:{host_port}"


def test_worker_env_names_are_real_settings(services: dict[str, Any]) -> None:
    known = _setting_env_names()
    env = {**_dockerfile_env(), **_env(services["worker"])}
    upsell = {name for name in env if name.startswith("UPSELL_")}
    assert upsell, "the worker has no UPSELL_* settings"
    assert upsell <= known, f"not settings of the worker: {sorted(upsell - known)}"


@pytest.fixture
def worker_settings(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> WorkerSettings:
    """WorkerSettings as a worker container sees them: image ENV, then compose env."""
    for name in list(os.environ):
        if name.startswith("UPSELL_"):
            monkeypatch.delenv(name)
    for name, value in {**_dockerfile_env(), **_env(services["worker"])}.items():
        monkeypatch.setenv(name, value)
    return WorkerSettings()


def test_worker_settings_parse(worker_settings: WorkerSettings, services: dict[str, Any]) -> None:
    kafka_env = _env(services["kafka"])
    advertised = _listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    internal = advertised[kafka_env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert worker_settings.kafka.bootstrap_servers == internal == "kafka:9092"
    assert worker_settings.transactions is True
    assert worker_settings.web_bind == "0.0.0.0"
    assert worker_settings.web_port == 6066


def test_worker_service(services: dict[str, Any], worker_settings: WorkerSettings) -> None:
    worker = services["worker"]
    assert worker["build"] in (".", {"context": "."})
    assert worker["deploy"]["replicas"] == 2
    assert worker["restart"] == "unless-stopped"
    assert worker["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "topics": {"condition": "service_completed_successfully"},
    }
    [mount] = [v for v in worker["volumes"] if str(v).startswith("./examples:")]
    source, target, mode = mount.split(":")
    assert mode == "ro"
    rules = Path(worker_settings.rules)
    assert rules.is_relative_to(target), f"rules {rules} are not in the mounted {target}"
    assert (ROOT / source / rules.relative_to(target)).is_file()
    assert worker.get("command", ["worker"])[0] == "worker"


def test_topics_job_creates_the_engine_topics(
    services: dict[str, Any], worker_settings: WorkerSettings
) -> None:
    job = services["topics"]
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert job["entrypoint"][0] in ("/bin/sh", "/bin/bash") and "-ec" in job["entrypoint"]
    [script] = job["command"]
    script = script.replace("\\\n", " ")
    created: dict[str, tuple[int, int, dict[str, str]]] = {}
    for line in script.splitlines():
        args = shlex.split(line)
        if not args or not args[0].endswith("kafka-topics.sh") or "--create" not in args:
            continue
        assert "--if-not-exists" in args
        options: dict[str, list[str]] = {}
        for flag, value in zip(args, [*args[1:], ""], strict=True):
            if flag.startswith("--") and not value.startswith("--"):
                options.setdefault(flag, []).append(value)
        configs = dict(c.split("=", 1) for c in options.get("--config", []))
        created[options["--topic"][0]] = (
            int(options["--partitions"][0]), int(options["--replication-factor"][0]), configs,
        )
    topics = worker_settings.topics
    assert topics == TopicSettings()  # the stack runs the default layout
    expected = {
        spec.name: (spec.num_partitions, spec.replication_factor, spec.topic_configs)
        for spec in topic_specs(topics)
    }
    assert set(expected) == {topics.events, topics.offers, topics.outcomes, topics.dlq,
                             topics.changelog, topics.rules, topics.rules_status}
    assert created == expected
    for compacted in (topics.changelog, topics.rules, topics.rules_status):
        assert created[compacted][2]["cleanup.policy"] == "compact"
    assert created[topics.rules][0] == created[topics.rules_status][0] == 1


# --- the image ---------------------------------------------------------------


def test_dockerfile_entrypoint_ports_and_user() -> None:
    [base] = _instruction("FROM")
    assert base.startswith("python:3.11-slim")
    assert [json.loads(args) for args in _instruction("ENTRYPOINT")] == [["upsell"]]
    assert [json.loads(args) for args in _instruction("CMD")] == [["worker"]]
    exposed = {port.split("/")[0] for args in _instruction("EXPOSE") for port in args.split()}
    assert exposed == {str(WorkerSettings.model_fields["web_port"].default)} == {"6066"}
    users = _instruction("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any("pip install" in args for args in _instruction("RUN"))
    assert any(args.split()[0] == "examples" for args in _instruction("COPY"))
    assert (ROOT / ".dockerignore").is_file()


def _healthcheck_argv() -> list[str]:
    [args] = _instruction("HEALTHCHECK")
    argv = json.loads(args[args.index("CMD") + len("CMD"):])
    assert argv[0] == "python"
    assert "127.0.0.1" in argv[-1] and "/health" in argv[-1] and "6066" in argv[-1]
    return [sys.executable, *argv[1:]]


@pytest.fixture
def health_stub() -> Iterator[tuple[int, list[int]]]:
    """An HTTP server answering /health with the status at the head of the list."""
    statuses = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses[0] if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], statuses
    finally:
        server.shutdown()
        server.server_close()


def test_dockerfile_healthcheck_probes_health(health_stub: tuple[int, list[int]]) -> None:
    port, statuses = health_stub
    argv = _healthcheck_argv()
    env = {**os.environ, "UPSELL_WEB_PORT": str(port)}
    assert subprocess.run(argv, env=env, capture_output=True, timeout=20).returncode == 0
    statuses[0] = 503  # partitions not yet assigned and restored
    assert subprocess.run(argv, env=env, capture_output=True, timeout=20).returncode != 0


# --- Prometheus ----------------------------------------------------------------


def test_prometheus_scrapes_the_workers(
    prometheus: dict[str, Any], services: dict[str, Any], worker_settings: WorkerSettings
) -> None:
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    [job] = [job for job in prometheus["scrape_configs"] if job["job_name"].startswith("upsell")]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets: list[str] = []
    for sd in job.get("dns_sd_configs", []):
        targets += [f"{name}:{sd['port']}" for name in sd["names"]]
    for static in job.get("static_configs", []):
        targets += static["targets"]
    assert targets
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert host in services
        assert int(port) == worker_settings.web_port == 6066
