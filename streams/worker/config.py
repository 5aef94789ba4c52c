"""The worker process's settings: the runtime's, plus the rules file and the web server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.runtime.settings import EngineSettings


class IngestSettings(BaseSettings):
    """HTTP ingest (`POST /v1/events`, `POST /v1/offers/{id}/response`), on the
    worker's web server or as `upsell ingest`. Off until a token is set."""

    model_config = SettingsConfigDict(env_prefix="UPSELL_INGEST_", extra="forbid")

    # Checked where ingest is made (streams/worker/ingest.py), not here: pydantic's
    # error for a too-short value would print the value.
    token: SecretStr | None = Field(
        default=None, description="Bearer token callers must send; unset: ingest is off (404)."
    )
    # 1 MiB holds about 5,000 events of 200 bytes: a batch worth one round trip,
    # small enough that a request is read, checked and acknowledged in well under a second.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger bodies get 413.")
    # How long a request waits for the broker to acknowledge its events before 503.
    ack_timeout_s: float = Field(default=10.0, gt=0)
    bind: str = Field(default="127.0.0.1", description="Address of `upsell ingest`.")
    port: int = Field(default=6067, ge=1, le=65535, description="Port of `upsell ingest`.")


class WorkerSettings(EngineSettings):
    """Everything `upsell worker` reads (environment `UPSELL_*`, then CLI flags)."""

    model_config = SettingsConfigDict(env_prefix="UPSELL_", extra="forbid")

    rules: Path = Path("examples/saas-rules.yaml")
    web_enabled: bool = True
    web_bind: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    # Info or lower: at warning faust sets the root logger to DEBUG for its
    # spinner, and debug calls in hot code get costly.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line."
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
