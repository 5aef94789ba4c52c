"""The worker process's settings: the runtime's, plus the rules file and the web server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from streams.runtime.settings import EngineSettings


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
