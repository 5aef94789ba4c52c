"""Runtime configuration: read once at the edge (environment `UPSELL_*` and CLI
flags, see streams/worker/config.py), then passed down. No other module reads
the environment."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """How to reach Kafka, and how long to wait for it. A worker with no bootstrap
    servers refuses to start (unless told to start the embedded broker)."""

    model_config = SettingsConfigDict(env_prefix="UPSELL_KAFKA_", extra="forbid")

    bootstrap_servers: str | None = Field(default=None, description="host:port[,host:port]")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # A worker started while Kafka restarts waits for it instead of exiting: it
    # retries with a backoff that doubles from 0.5 s up to this, logging each try.
    retry_backoff_max_s: float = Field(
        default=30, gt=0, description="Longest pause between two tries to reach the broker."
    )
    start_wait_s: float = Field(
        default=0, ge=0, description="How long a worker waits for the broker at start (0: for ever)."
    )
    # aiokafka fails a produce batch that waits longer than its request timeout
    # (40 s by default), and a failed checkpoint stops the worker: a 45 s broker
    # outage was fatal. Outputs wait this long instead; the work is kept meanwhile.
    delivery_timeout_s: float = Field(
        default=300, gt=0,
        description="How long an output may wait for the broker before the worker gives up.",
    )

    @model_validator(mode="after")
    def _complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and (
            self.sasl_mechanism is None or self.sasl_username is None or self.sasl_password is None
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, "
                "sasl_username and sasl_password"
            )
        return self

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (consumer, producer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
            if self.ssl_certfile is not None:
                context.load_cert_chain(
                    str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
                )
            options["ssl_context"] = context
        if self.security_protocol.startswith("SASL_"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            assert self.sasl_password is not None  # checked by _complete
            options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return options


class TopicSettings(BaseSettings):
    """Topic names and layout. Events, offers and the changelog share one partition
    count so that an account's events, state and offers live on the same partition."""

    model_config = SettingsConfigDict(env_prefix="UPSELL_TOPIC_", extra="forbid")

    events: str = "usage-events"
    offers: str = "upsell-offers"
    outcomes: str = "upsell-outcomes"  # what became of each offer (schemas/outcomes.py)
    dlq: str = "usage-events-dlq"
    changelog: str = "upsell-state-changelog"
    # One partition each, compacted (streams/runtime/rules_feed.py): the rules versions
    # `upsell rules apply` publishes, and the version each worker runs.
    rules: str = "upsell-rules"
    rules_status: str = "upsell-rules-status"
    partitions: int = Field(default=8, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    def names(self) -> dict[str, str]:
        """Each topic's name by its role (for /status and the start line)."""
        return {role: name for role, name in self.model_dump().items() if isinstance(name, str)}


class HealthSettings(BaseSettings):
    """What the worker's probes report (/livez, /readyz) and how it watches the broker."""

    model_config = SettingsConfigDict(env_prefix="UPSELL_HEALTH_", extra="forbid")

    # The worker asks the broker for metadata this often: the fetch loop alone
    # cannot tell a hung broker (SIGSTOP, a frozen VM) from an idle topic.
    broker_check_interval_s: float = Field(
        default=2, gt=0, description="How often the worker asks the broker for metadata."
    )
    broker_stale_s: float = Field(
        default=10, gt=0,
        description="/readyz fails when the broker has not answered for this long.",
    )
    max_lag: int = Field(
        default=250_000, ge=0,
        description="/readyz fails past this many records behind, all partitions (0: no bound).",
    )
    stall_s: float = Field(
        default=120, gt=0,
        description="/livez fails when the loop has not turned for this long while the broker "
                    "answers and no rebalance is under way.",
    )


class EngineSettings(BaseSettings):
    """What the runtime needs: the group, checkpoints, delivery, fetching."""

    model_config = SettingsConfigDict(env_prefix="UPSELL_", extra="forbid")

    group_id: str = "upsell-engine"
    # How often state and offsets are made durable. Offers are sent as soon as
    # they are decided (at-least-once), so this bounds the work redone after a
    # crash and the changelog volume, not the offer latency. With transactions,
    # offers become visible at the checkpoint, so it bounds their latency too.
    checkpoint_interval_ms: int = Field(default=500, ge=10)
    checkpoint_max_events: int = Field(default=50_000, ge=1)
    transactions: bool = Field(
        default=False, description="Exactly-once: one Kafka transaction per checkpoint."
    )
    # Kafka fences an older producer with the same transactional id, so a zombie
    # worker cannot commit after its replacement started: give each worker a
    # stable id of its own (a pod name); the default is the group and host name.
    transactional_id: str | None = None
    # Upper bound on how long a fetch waits for data. The embedded broker holds
    # an empty fetch for this whole time, so it bounds idle latency there.
    fetch_max_wait_ms: int = Field(default=50, ge=1)
    max_batch_events: int = Field(default=10_000, ge=1)
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    # What the clock of each partition is, for the triggers that fire with no
    # event (renewal, tenure, inactivity). event: the latest event time seen on
    # the partition, so the engine gives what replay gives. wall: that, or the
    # wall clock once the partition is caught up (a backlog is decided in event
    # time; an idle account's renewal still comes on time).
    clock: Literal["event", "wall"] = "wall"
    # How often the sweep looks for due timers when no record arrives: bounds how
    # late a timed offer is in wall mode. The look is one comparison per partition.
    sweep_interval_ms: int = Field(default=1_000, ge=10)
    # An event dated further than this after its Kafka record was produced goes
    # to the dead-letter topic: a partition's clock never goes back, so one event
    # dated next year would make every timer on it due at once, for good.
    max_future_skew_s: float = Field(default=86_400, gt=0)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
