"""The `upsell` command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import os
import socket
import ssl
import sys
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click
import orjson
from pydantic import ValidationError

from schemas.rules_file import LoadedRules, RulesError, load_rules
from streams import __version__
from streams.cli.pretty import describe_offer
from streams.cli.settings_help import epilog, explain, unknown_variables
from streams.runtime.settings import KafkaSettings, TopicSettings
from streams.worker.config import WorkerSettings
from streams.worker.logs import worker_logging
from triggers import RuleBook

log = logging.getLogger(__name__)


def _load_book(path: str) -> RuleBook:
    """Load rules or exit 1 with every problem, one per line."""
    try:
        return RuleBook.compile(load_rules(path))
    except RulesError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def _fail(message: str, code: int = 2) -> NoReturn:
    """A mistake the user can fix: say what, with no traceback, and exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
@click.version_option(__version__, prog_name="upsell")
def main() -> None:
    """upsell: a Kafka-native trigger engine for product-led growth."""


@main.command()
@click.option("--rules", "rules_path", required=True, type=click.Path(dir_okay=False),
              help="The rules file (YAML).")
@click.option("--pretty", is_flag=True, help="One readable line per offer instead of JSON.")
@click.option("--partitions", type=click.IntRange(min=1), default=1, show_default=True,
              help="Partitions of the live events topic: one clock per partition, accounts "
                   "placed as the live partitioner places them (1: one clock).")
@click.argument("events", type=click.File("rb"))
def replay(rules_path: str, events: BinaryIO, pretty: bool, partitions: int) -> None:
    """Run the decision core over a JSON-lines file of events ('-' for stdin).

    Time is the events' time; timed triggers fire as it passes their due
    times. Offers go to stdout as JSON lines; a summary goes to stderr.
    """
    from streams.cli.replay import ReplaySummary
    from streams.cli.replay import replay as run_replay

    book = _load_book(rules_path)
    summary = ReplaySummary()
    out = sys.stdout.buffer
    for offer in run_replay(events, book, summary, partitions):
        line = describe_offer(offer) if pretty else offer.model_dump_json()
        out.write(line.encode() + b"\n")
    out.flush()
    click.echo(summary.render(), err=True)


@main.group()
def rules() -> None:
    """Work with rules files."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def rules_check(path: str) -> None:
    """Validate a rules file: exit 0 with a summary, or 1 with every error and its line."""
    try:
        loaded = load_rules(path)
    except RulesError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(_describe(path, loaded))


def _describe(path: str, loaded: LoadedRules) -> str:
    rules_file = loaded.rules
    kinds: dict[str, int] = {}
    for trigger in rules_file.triggers:
        kinds[trigger.kind] = kinds.get(trigger.kind, 0) + 1
    guards = rules_file.guards.model_dump(exclude_defaults=True)
    return "\n".join([
        f"{path}: OK (version {loaded.version})",
        f"  metrics: {', '.join(rules_file.metrics)}",
        f"  plans: {', '.join(rules_file.plans)}",
        f"  add-ons: {', '.join(rules_file.addons) or 'none'}",
        f"  triggers: {len(rules_file.triggers)} "
        f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})",
        f"  guards: {', '.join(guards) or 'none'}",
    ])


@main.command()
@click.option("--out", "out_dir", default="schemas/json", show_default=True,
              type=click.Path(file_okay=False), help="Folder to write the schema files to.")
def schema(out_dir: str) -> None:
    """Write JSON Schema files for the event, offer and rules contracts."""
    from schemas.export import write_json_schemas

    for path in write_json_schemas(Path(out_dir)):
        click.echo(str(path))


@main.command()
@click.option("--rules", "rules_path", default="examples/saas-rules.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--accounts", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--days", default=90, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True)
@click.option("--with-mistakes", is_flag=True,
              help="Slip in a duplicate and a few invalid events, as real producers do.")
def simulate(rules_path: str, accounts: int, days: int, seed: int, with_mistakes: bool) -> None:
    """Write simulated customer events as JSON lines to stdout."""
    import orjson

    from streams.cli.simulator import Simulator
    from streams.cli.simulator import with_mistakes as add_mistakes

    events = list(Simulator(_load_book(rules_path), accounts, seed=seed).events(days))
    lines = add_mistakes(events) if with_mistakes else [orjson.dumps(e) for e in events]
    out = sys.stdout.buffer
    for line in lines:
        out.write(line + b"\n")


def _bootstrap_option(function: Any) -> Any:
    return click.option(
        "--bootstrap-servers", default=None,
        help="Kafka bootstrap servers (default: $UPSELL_KAFKA_BOOTSTRAP_SERVERS).",
    )(function)


def _kafka(bootstrap_servers: str | None) -> tuple[str, dict[str, Any]]:
    """The broker to talk to and the client options (SASL/TLS) from the environment."""
    kafka = KafkaSettings() if bootstrap_servers is None else KafkaSettings(
        bootstrap_servers=bootstrap_servers
    )
    if not kafka.bootstrap_servers:
        raise click.UsageError(
            "no broker: pass --bootstrap-servers or set UPSELL_KAFKA_BOOTSTRAP_SERVERS "
            "(`upsell broker` starts a local one and prints its address)"
        )
    return kafka.bootstrap_servers, kafka.client_options()


@main.command(epilog=epilog(WorkerSettings))
@click.option("--rules", "rules_path", default=None, type=click.Path(dir_okay=False),
              help="Rules file [UPSELL_RULES].")
@_bootstrap_option
@click.option("--embedded-broker", is_flag=True,
              help="Start a local, memory-only broker on 127.0.0.1 and run on it: for trying "
                   "upsell out (everything is lost at exit). Not with --bootstrap-servers.")
@click.option("--partitions", type=click.IntRange(min=1), default=None,
              help="Partitions of the topics it creates [UPSELL_TOPIC_PARTITIONS].")
@click.option("--group-id", default=None, help="Consumer group [UPSELL_GROUP_ID].")
@click.option("--web-port", type=click.IntRange(1, 65535), default=None,
              help="Port of /livez, /readyz, /metrics and /status, on 127.0.0.1 unless "
                   "UPSELL_WEB_BIND says otherwise [UPSELL_WEB_PORT].")
@click.option("--transactions/--no-transactions", default=None,
              help="Exactly-once checkpoints (needs a broker with transactions) "
                   "[UPSELL_TRANSACTIONS].")
@click.option("--clock", type=click.Choice(["wall", "event"]), default=None,
              help="Clock of timed triggers: wall (event time, and the wall clock once "
                   "caught up) or event (event time only: what replay gives) [UPSELL_CLOCK].")
@click.option("--loglevel", default=None, type=click.Choice(["debug", "info", "warning", "error"]),
              help="[UPSELL_LOG_LEVEL]")
@click.option("--log-format", default=None, type=click.Choice(["text", "json"]),
              help="json: one JSON object per line [UPSELL_LOG_FORMAT].")
def worker(rules_path: str | None, bootstrap_servers: str | None, embedded_broker: bool,
           partitions: int | None, group_id: str | None, web_port: int | None,
           transactions: bool | None, clock: str | None, loglevel: str | None,
           log_format: str | None) -> None:
    """Run the engine: consume usage events, publish offers.

    It needs a broker: UPSELL_KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers, or
    --embedded-broker for a local one. It waits for the broker at start,
    retrying with backoff, and rides out outages while it runs.
    """
    from streams.broker import BrokerError, EmbeddedBroker
    from streams.runtime.loop import Engine
    from streams.worker.app import run_worker

    overrides: dict[str, Any] = {
        "rules": rules_path, "group_id": group_id, "web_port": web_port,
        "transactions": transactions, "clock": clock, "log_level": loglevel,
        "log_format": log_format,
    }
    settings = _worker_settings({key: value for key, value in overrides.items()
                                 if value is not None}, bootstrap_servers, partitions)
    logging.config.dictConfig(worker_logging(settings))  # in the format asked for, from here on
    for warning in unknown_variables(os.environ, WorkerSettings):
        log.warning(warning)
    book = _load_book(str(settings.rules))
    _check_web_address(settings)
    bootstrap = settings.kafka.bootstrap_servers
    if embedded_broker and bootstrap:
        _fail("--embedded-broker starts a broker of its own: drop it, or drop "
              "--bootstrap-servers / UPSELL_KAFKA_BOOTSTRAP_SERVERS")
    if not embedded_broker and not bootstrap:
        _fail("no Kafka configured: set UPSELL_KAFKA_BOOTSTRAP_SERVERS (or pass "
              "--bootstrap-servers); for a local, memory-only broker pass --embedded-broker")
    broker = None
    if embedded_broker:
        try:
            broker = EmbeddedBroker().start()
        except BrokerError as exc:
            _fail(f"the embedded broker did not start: {exc}", 1)
        bootstrap = broker.bootstrap_servers
        log.info("started an embedded broker at %s (memory only: for local runs; its topics "
                 "are lost when the worker stops)", bootstrap)
    assert bootstrap is not None
    try:
        run_worker(settings, Engine(settings, book, bootstrap))
    finally:
        if broker is not None:
            broker.stop()


def _worker_settings(overrides: dict[str, Any], bootstrap_servers: str | None,
                     partitions: int | None) -> WorkerSettings:
    """The environment and the flags, checked: exit 2 naming each bad variable."""
    try:
        if bootstrap_servers is not None:
            overrides["kafka"] = KafkaSettings(bootstrap_servers=bootstrap_servers)
        if partitions is not None:
            overrides["topics"] = TopicSettings(partitions=partitions)
        settings = WorkerSettings(**overrides)
        settings.kafka.client_options()  # reads the TLS files, if any
    except ValidationError as exc:
        click.echo("\n".join(f"error: {line}" for line in explain(exc, WorkerSettings)), err=True)
        sys.exit(2)
    except (OSError, ssl.SSLError) as exc:
        _fail(f"UPSELL_KAFKA_SSL_*: {exc}")
    return settings


def _check_web_address(settings: WorkerSettings) -> None:
    """Fail now, in one line, if the web server could not listen (a port in use)."""
    if not settings.web_enabled:
        return
    address = (settings.web_bind, settings.web_port)
    with socket.socket(socket.AF_INET6 if ":" in settings.web_bind else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
        try:
            sock.bind(address)
        except OSError as exc:
            _fail(f"cannot listen on {settings.web_bind}:{settings.web_port} ({exc.strerror}): "
                  "set UPSELL_WEB_PORT (or --web-port) or UPSELL_WEB_BIND")


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default: a free one).")
def broker(port: int | None) -> None:
    """Run the embedded Kafka-compatible broker on 127.0.0.1 until Ctrl-C."""
    from streams.broker import run_broker_forever

    run_broker_forever(port)


@main.command()
@_bootstrap_option
@click.option("--topic", default=None, help="Events topic (default usage-events).")
@click.option("--raw", is_flag=True,
              help="Send every line as it is, even invalid ones (to exercise the dead-letter topic).")
@click.argument("events", type=click.File("rb"))
def produce(bootstrap_servers: str | None, topic: str | None, raw: bool, events: BinaryIO) -> None:
    """Validate JSON-lines events and send them, keyed by account ('-' for stdin).

    Invalid lines are reported with their line number and not sent (exit 1).
    """
    from streams.cli.producer import EventProducer
    from streams.runtime.topics import ensure_topics

    bootstrap, options = _kafka(bootstrap_servers)
    topics = TopicSettings() if topic is None else TopicSettings(events=topic)
    topic = topics.events

    async def send() -> tuple[int, list[tuple[int, str]]]:
        # Sending to a missing topic would let the broker create it with its own
        # layout; create the engine's topics first (a no-op when they exist).
        await ensure_topics(bootstrap, topics, options)
        async with EventProducer(bootstrap, topic, **options) as producer:
            if not raw:
                report = await producer.send_lines(events)
                return report.sent, report.rejected
            sent = 0
            for line in events:
                line = line.strip()
                if line:
                    await producer.send_raw(line, _account_key(line))
                    sent += 1
            await producer.flush()
            return sent, []

    sent, rejected = asyncio.run(send())
    for number, reason in rejected:
        click.echo(f"line {number}: {reason}", err=True)
    click.echo(f"sent {sent} events to {topic}" +
               (f", rejected {len(rejected)} invalid lines" if rejected else ""), err=True)
    if rejected:
        sys.exit(1)


def _account_key(line: bytes) -> bytes | None:
    """The account id of a line, if it has one, as the record key."""
    try:
        account = orjson.loads(line).get("account_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(account).encode() if account is not None else None


@main.command()
@_bootstrap_option
@click.option("--topic", default=None, help="Offers topic (default upsell-offers).")
@click.option("--pretty", is_flag=True, help="One readable line per offer instead of JSON.")
@click.option("--from-beginning", is_flag=True, help="Start with the oldest offers.")
def tail(bootstrap_servers: str | None, topic: str | None, pretty: bool,
         from_beginning: bool) -> None:
    """Print offers as they arrive, one JSON object per line (Ctrl-C to stop)."""
    from streams.cli.tail import follow_offers

    bootstrap, options = _kafka(bootstrap_servers)

    async def follow() -> None:
        offers = follow_offers(bootstrap, topic or TopicSettings().offers, from_beginning,
                               **options)
        async for offer in offers:
            click.echo(describe_offer(offer) if pretty else offer.model_dump_json())

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow())


@main.command()
@click.option("--duration", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds to run.")
@click.option("--accounts", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--rate", type=click.IntRange(min=1), default=400, show_default=True,
              help="Events per second from the simulated product.")
def demo(duration: float, accounts: int, rate: int) -> None:
    """The whole loop on this machine: embedded broker, worker, a simulated
    customer base, and the offers printed as they fire."""
    from streams.cli.demo import run_demo

    run_demo(duration=duration, accounts=accounts, rate=rate)


if __name__ == "__main__":  # pragma: no cover
    main()
