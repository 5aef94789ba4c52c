"""The deployment files (Dockerfile, docker-compose.yml, deploy/: Prometheus and
its alert rules, Grafana and its dashboard, the Kubernetes manifests) agree with
the code: setting names, topic layout, ports, probes, and every metric the
dashboard and the alerts read is one a live worker exports. No Docker or
Kubernetes needed; the files are parsed, and the image's health check command
is run against a stub."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from schemas.rules_file import parse_rules
from streams.broker import EmbeddedBroker
from streams.runtime.settings import KafkaSettings, TopicSettings
from streams.runtime.topics import topic_specs
from streams.worker.config import WorkerSettings
from tests.streams.conftest import EXTERNAL_BOOTSTRAP
from tests.streams.kafka_helpers import EXAMPLE_EVENTS, send_lines, worker_process

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
    assert publishing == {"kafka", "prometheus", "grafana"}
    for name in publishing:
        for host_ip, _, _ in _published(services[name]):
            assert host_ip == LOOPBACK, f"{name} publishes a port on {host_ip or 'every interface'}"
    assert ("127.0.0.1", "9090", "9090") in _published(services["prometheus"])
    assert ("127.0.0.1", "3000", "3000") in _published(services["grafana"])


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


def image_build_inputs() -> list[str]:
    """What the Dockerfile copies into the throwaway source it installs the package from."""
    inputs: list[str] = []
    for args in _instruction("COPY"):
        *sources, target = args.split()
        if target.startswith("/tmp/src/"):
            inputs += sources
    return inputs


def test_the_image_installs_the_examples_as_package_data() -> None:
    inputs = image_build_inputs()
    assert {"pyproject.toml", "README.md", "schemas", "triggers", "streams", "examples"} <= set(inputs)
    assert "examples" not in (ROOT / ".dockerignore").read_text().split()


# --- alert rules and the dashboard ---------------------------------------------

# A metric name in PromQL: ours, or the process and Python metrics prometheus-client adds.
# `up` is Prometheus's own (one per scrape target), checked apart.
_METRIC = re.compile(r"\b(?:upsell|process|python)_[a-z0-9_]+\b")
_UP = re.compile(r"\bup\{([^}]*)\}")


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """container path -> (host path or volume, mode) of a service's short-syntax volumes."""
    mounts: dict[str, tuple[str, str]] = {}
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        mounts[target] = (source, mode[0] if mode else "rw")
    return mounts


def _host_file(service: dict[str, Any], container_path: str) -> Path:
    """The repository file that a service sees at `container_path` through a bind mount."""
    path = PurePosixPath(container_path)
    for target, (source, mode) in _mounts(service).items():
        if source.startswith("./") and path.is_relative_to(target):
            assert mode == "ro", f"{source} is mounted writable"
            return ROOT / source / path.relative_to(target)
    raise AssertionError(f"nothing mounted at {container_path}")


@pytest.fixture(scope="module")
def alert_rules(services: dict[str, Any], prometheus: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rule of every rule file Prometheus loads in the stack."""
    rules: list[dict[str, Any]] = []
    for rule_file in prometheus["rule_files"]:
        groups = yaml.safe_load(_host_file(services["prometheus"], rule_file).read_text())["groups"]
        rules += [rule for group in groups for rule in group["rules"]]
    return rules


@pytest.fixture(scope="module")
def dashboard(services: dict[str, Any]) -> dict[str, Any]:
    grafana = services["grafana"]
    providers = yaml.safe_load(
        _host_file(grafana, "/etc/grafana/provisioning/dashboards/upsell.yml").read_text())
    [provider] = providers["providers"]
    folder = _host_file(grafana, provider["options"]["path"])
    [path] = folder.glob("*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_prometheus_loads_the_alert_rules(alert_rules: list[dict[str, Any]]) -> None:
    names = [rule["alert"] for rule in alert_rules]
    assert len(names) == len(set(names))
    for rule in alert_rules:
        assert rule["expr"].strip()
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s"))


def test_the_alerts_cover_lag_dead_letters_readiness_and_checkpoint_age(
    alert_rules: list[dict[str, Any]], prometheus: dict[str, Any]
) -> None:
    exprs = " ".join(rule["expr"] for rule in alert_rules)
    for metric in ("upsell_consumer_lag_seconds", "upsell_dead_letters_total", "upsell_ready",
                   "upsell_last_checkpoint_timestamp_seconds"):
        assert metric in exprs, f"no alert on {metric}"
    [job] = [job["job_name"] for job in prometheus["scrape_configs"] if job["job_name"].startswith("upsell")]
    for selector in _UP.findall(exprs):
        assert f'job="{job}"' in selector  # `up` of the workers' scrape job


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(
    services: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    [datasource] = yaml.safe_load(_host_file(
        grafana, "/etc/grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"  # the compose service and its port
    assert ("127.0.0.1", "9090", "9090") in _published(services["prometheus"])
    home = _env(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert json.loads(_host_file(grafana, home).read_text())["uid"] == dashboard["uid"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == panel["datasource"]["uid"] == datasource["uid"]
    [instance] = dashboard["templating"]["list"]
    assert instance["datasource"]["uid"] == datasource["uid"]


def test_the_dashboard_shows_throughput_lag_offers_dead_letters_checkpoints_latency(
    dashboard: dict[str, Any]
) -> None:
    exprs = " ".join(_dashboard_exprs(dashboard))
    for metric in ("upsell_events_total", "upsell_consumer_lag", "upsell_consumer_lag_seconds",
                   "upsell_offers_total", "upsell_dead_letters_total",
                   "upsell_last_checkpoint_timestamp_seconds",
                   "upsell_checkpoint_duration_seconds_bucket",
                   "upsell_event_to_offer_seconds_bucket"):
        assert re.search(rf"\b{metric}\b", exprs), f"no panel reads {metric}"


@contextlib.contextmanager
def _kafka() -> Iterator[str]:
    """The broker of the live tests: UPSELL_TEST_KAFKA_BOOTSTRAP, or an embedded one."""
    if EXTERNAL_BOOTSTRAP:
        yield EXTERNAL_BOOTSTRAP
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="module")
def live_metric_names() -> set[str]:
    """Every sample name a live worker's /metrics has after taking the example
    events, and every name its declared families may have (a counter's _total, a
    histogram's _bucket, _sum and _count) even before their first sample."""
    with _kafka() as bootstrap:
        prefix = f"deploy-files-{uuid.uuid4().hex[:8]}"
        with worker_process(bootstrap, prefix) as worker:
            lines = EXAMPLE_EVENTS.read_bytes().splitlines()
            asyncio.run(send_lines(bootstrap, worker.events_topic, lines))
            deadline = time.monotonic() + 60
            samples = worker.scrape()
            while sum(s.value for s in samples if s.name == "upsell_events_total") < len(lines):
                assert time.monotonic() < deadline, "the worker did not take the example events"
                time.sleep(0.3)
                samples = worker.scrape()
            families = worker.families()
    names = {sample.name for sample in samples}
    for family in families:
        names |= {f"{family.name}{suffix}" for suffix in _SUFFIXES.get(family.type, ("",))}
    return names


# The sample names of a family, by its type (the parser names a counter without _total).
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def test_every_metric_the_dashboard_and_the_alerts_read_is_exported(
    live_metric_names: set[str], dashboard: dict[str, Any], alert_rules: list[dict[str, Any]]
) -> None:
    read = {name for expr in _dashboard_exprs(dashboard) + [r["expr"] for r in alert_rules]
            for name in _METRIC.findall(expr)}
    assert read
    assert read <= live_metric_names, f"not exported: {sorted(read - live_metric_names)}"


# --- Kubernetes ------------------------------------------------------------------

K8S = ROOT / "deploy" / "k8s"


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    """The manifests by kind (one each)."""
    manifests: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None and doc.get("kind") != "Kustomization":
                assert doc["kind"] not in manifests, f"two {doc['kind']}s"
                manifests[doc["kind"]] = doc
    return manifests


def _container(k8s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [container] = k8s["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    return container


def _container_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container["env"]}


def test_kustomization_lists_every_manifest(k8s: dict[str, dict[str, Any]]) -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(k8s) == {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"}


def test_k8s_probes_are_livez_and_readyz_on_the_web_port(k8s: dict[str, dict[str, Any]]) -> None:
    container = _container(k8s)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    env = _container_env(container)
    assert ports["http"] == int(env["UPSELL_WEB_PORT"]["value"]) == 6066
    assert env["UPSELL_WEB_BIND"]["value"] == "0.0.0.0"  # the kubelet probes the pod's IP
    for probe, path in (("livenessProbe", "/livez"), ("startupProbe", "/livez"),
                        ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe


def test_k8s_transactional_id_is_the_pod_name(k8s: dict[str, dict[str, Any]]) -> None:
    statefulset = k8s["StatefulSet"]
    env = _container_env(_container(k8s))
    assert env["UPSELL_TRANSACTIONS"]["value"] == "true"
    assert env["UPSELL_TRANSACTIONAL_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # A StatefulSet's pod names are stable across restarts: a restarted pod fences its zombie.
    assert statefulset["spec"]["serviceName"] == k8s["Service"]["metadata"]["name"]


def test_k8s_env_names_are_real_settings(k8s: dict[str, dict[str, Any]]) -> None:
    names = set(_container_env(_container(k8s)))
    assert names <= _setting_env_names(), f"not settings: {sorted(names - _setting_env_names())}"
    for item in _container_env(_container(k8s)).values():
        if "PASSWORD" in item["name"]:
            assert "secretKeyRef" in item["valueFrom"], "a secret in plain text"


def test_k8s_resources_security_and_image_user(k8s: dict[str, dict[str, Any]]) -> None:
    container = _container(k8s)
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
    pod = k8s["StatefulSet"]["spec"]["template"]["spec"]
    [user] = _instruction("USER")
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]  # faust's data dir
    assert pod["terminationGracePeriodSeconds"] >= 30  # the last checkpoint, then leave the group


def test_k8s_rules_come_from_the_configmap(k8s: dict[str, dict[str, Any]]) -> None:
    container = _container(k8s)
    rules = PurePosixPath(_container_env(container)["UPSELL_RULES"]["value"])
    [mount] = [m for m in container["volumeMounts"] if rules.is_relative_to(m["mountPath"])]
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in k8s["StatefulSet"]["spec"]["template"]["spec"]["volumes"]}
    configmap = k8s["ConfigMap"]
    assert volumes[mount["name"]]["configMap"]["name"] == configmap["metadata"]["name"]
    text = configmap["data"][str(rules.relative_to(mount["mountPath"]))]
    assert parse_rules(text, "deploy/k8s/configmap-rules.yaml").rules.triggers


def test_k8s_service_exposes_metrics_of_every_worker(k8s: dict[str, dict[str, Any]]) -> None:
    service, statefulset = k8s["Service"], k8s["StatefulSet"]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert statefulset["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert service["spec"]["clusterIP"] == "None"  # each pod scraped on its own
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "http" and port["port"] == 6066
    assert service["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    budget = k8s["PodDisruptionBudget"]
    assert budget["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
