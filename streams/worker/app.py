"""The worker: a faust-streaming App hosting the ingest engine as a service.

Faust gives the worker its lifecycle (start, signals, orderly stop), the web
server (/livez, /readyz, /metrics, /status) and room for timers. The usage-event hot
path is not a faust agent but our batch loop (streams/engine.py), because
faust's per-event machinery costs 10-40x the decision itself
(../shared/ARCHITECTURE.md). Faust's own Kafka consumer and producer are off:
with no agents or tables they would only add a consumer-group join (seconds on
some brokers) and an idle connection.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import mode
from aiokafka.errors import ConsumerStoppedError
from faust.app.base import BootStrategy
from faust.web import Request, Response, View

from streams import __version__
from streams.runtime.errors import EngineError
from streams.runtime.health import ErrorNote
from streams.runtime.loop import Engine
from streams.worker.config import WorkerSettings
from streams.worker.ingest import add_ingest, make_ingest
from streams.worker.logs import worker_logging
from streams.worker.metrics import CONTENT_TYPE, render_metrics
from streams.worker.page import add_status_page
from streams.worker.probes import Verdict, liveness, readiness
from streams.worker.rates import SAMPLE_EVERY_S, Rates
from streams.worker.rules_service import RulesService
from streams.worker.tuning import tune_gc

log = logging.getLogger(__name__)


class _HostOnlyBoot(BootStrategy):
    """Start the web server and services, but none of faust's Kafka clients."""

    enable_kafka = False


class _WorkerApp(faust.App):
    BootStrategy = _HostOnlyBoot


class EngineService(mode.Service):
    """Runs the engine for as long as the worker runs. It connects in its task,
    not in `on_start`, so the web server answers (/livez 200, /readyz 503) while
    the engine waits for the broker. If the loop fails, the service fails and
    the worker exits non-zero, so a supervisor restarts it from the last
    checkpoint."""

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    async def on_stop(self) -> None:
        await self.engine.stop()

    @mode.Service.task
    async def _consume(self) -> None:
        try:
            await self.engine.start()
            if not self.engine.stopping:
                await self.engine.run()
        except ConsumerStoppedError:
            if not self.engine.stopping:
                raise
        except EngineError as exc:
            log.error("stopping: %s", exc)  # says what to fix; logged with no traceback
            raise


def create_app(settings: WorkerSettings, engine: Engine,
               rules: RulesService | None = None) -> faust.App:
    """The faust App for one worker process; `rules`: live rules (rules_service.py)."""
    app = _WorkerApp(
        "upsell",
        # Faust's own clients are off; it still wants a broker URL.
        broker=f"kafka://{engine.bootstrap_servers.split(',')[0]}",
        # Settings are ours (streams/config.py): keep faust from reading WEB_PORT etc.
        env_prefix="UPSELL_FAUST_",
        autodiscover=False,
        datadir=Path(tempfile.gettempdir()) / "upsell-faust",
        web_enabled=settings.web_enabled,
        web_bind=settings.web_bind,
        web_host=settings.web_bind,
        web_port=settings.web_port,
        web_tables_enabled=False,  # would serve table contents: customer data
        web_router_enabled=False,
    )
    if rules is not None:  # first: its start-up notes come before the group join's wait
        app.service(rules)  # type: ignore[arg-type]  # an instance works too
    app.service(EngineService(engine))  # type: ignore[arg-type]
    add_ingest(app, make_ingest(settings.ingest, engine.bootstrap_servers, settings.topics,
                                settings.kafka.client_options()))
    started = time.time()
    rates = Rates(lambda: {"events": engine.metrics.events,
                           "offers": engine.metrics.decisions.offers.total(),
                           "invalid_events": engine.metrics.invalid})
    rates.sample()

    @app.timer(SAMPLE_EVERY_S)  # type: ignore[untyped-decorator]
    async def sample_rates() -> None:
        rates.sample()

    def ready_now() -> Verdict:
        engine.refresh_gauges()
        return readiness(engine.health(), settings.health)

    add_status_page(app, engine, lambda: ready_now().ok)  # its badge is /readyz's verdict

    def answer(web: View, verdict: Verdict, **more: Any) -> Response:
        return web.json({**verdict.body(), **more}, status=200 if verdict.ok else 503)

    @app.page("/livez")
    async def livez(web: View, request: Request) -> Response:
        """For liveness probes: 503 only when a restart would help (the engine
        failed, or its loop is stuck); never for a rebalance or a broker outage."""
        return answer(web, liveness(engine.health(), settings.health))

    @app.page("/readyz")
    async def readyz(web: View, request: Request) -> Response:
        """For readiness probes: connected, the broker answering, partitions
        assigned and restored, lag within its bound; the body says which fails."""
        verdict = ready_now()
        return answer(web, verdict, ready=verdict.ok)

    @app.page("/health")
    async def health(web: View, request: Request) -> Response:
        """/readyz under its old name."""
        verdict = ready_now()
        return answer(web, verdict, ready=verdict.ok)

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        ready = ready_now().ok  # upsell_ready is what /readyz answers
        # The type goes in a header: aiohttp refuses a content_type with a charset.
        book = engine.book
        body = render_metrics(engine.metrics, book.version,
                              [trigger.id for trigger in book.rules.triggers], ready)
        return web.bytes(body, headers={"Content-Type": CONTENT_TYPE})

    @app.page("/status")
    async def status(web: View, request: Request) -> Response:
        """What ops want at a glance; counts only, no customer data."""
        verdict = ready_now()
        m, kafka, topics = engine.metrics, settings.kafka, settings.topics
        silent = engine.broker.silent_for()
        return web.json({
            "ready": verdict.ok,
            "readiness": verdict.body(),
            "version": __version__,
            "uptime_seconds": round(time.time() - started, 1),
            "broker": {  # where, and how: no credentials
                "bootstrap_servers": engine.bootstrap_servers,
                "security_protocol": kafka.security_protocol,
                "sasl_mechanism": kafka.sasl_mechanism,
                "last_answer_seconds_ago": None if silent is None else round(silent, 1),
            },
            "topics": {**topics.names(), "partitions": engine.partitions},
            "rules": {"file": str(settings.rules), "version": engine.book.version,
                      **(rules.live.status() if rules is not None else {})},
            "rules_version": engine.book.version,
            "last_error": _error_body(engine.last_error),
            "rates_per_second": rates.per_second(),  # over the last minute
            "group_id": settings.group_id,
            "transactions": settings.transactions,
            "partitions": sorted(engine.stores),
            "accounts": m.accounts,
            "lag": m.lag,
            "events": m.events,
            "invalid_events": m.invalid,
            "offers": m.decisions.offers.total(),
            "offers_by_trigger": dict(m.decisions.offers),
            "conversions_by_trigger": dict(m.decisions.conversions),
            "held_back_by_guard": dict(m.decisions.suppressed),
            "offers_not_resent": m.offers_not_resent,
            "clock": settings.clock,
            "clocks": {str(p): _rfc3339(t) for p, t in sorted(m.clocks.items())},
            "timers_scheduled": m.timers_scheduled,
            "timer_wakes": m.timer_wakes,
            "checkpoints": m.checkpoints,
            "last_checkpoint_seconds_ago": (
                round(time.time() - m.last_checkpoint_at, 1) if m.last_checkpoint_at else None
            ),
        })

    return app


def run_worker(settings: WorkerSettings, engine: Engine,
               rules: RulesService | None = None) -> None:
    """Run until SIGINT/SIGTERM; exits the process (0 on a clean stop, 1 on a crash).
    SIGHUP reloads the rules file (rules_service.py)."""
    tune_gc()
    if rules is not None:
        rules.catch_sighup_early()
    app = create_app(settings, engine, rules)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
                          logging_config=worker_logging(settings))
    worker.execute_from_commandline()


def _error_body(note: ErrorNote | None) -> dict[str, Any] | None:
    if note is None:
        return None
    return {"type": note.type, "message": note.message, "at": _rfc3339(note.at),
            "seconds_ago": round(time.time() - note.at, 1)}


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
