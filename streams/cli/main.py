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
from streams.cli.settings_help import epilog, setting_errors, unknown_variables
from streams.runtime.live_rules import StartingRules
from streams.runtime.settings import KafkaSettings, TopicSettings
from streams.worker.config import WorkerSettings
from streams.worker.logs import startup_line, worker_logging
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
@click.option("--report", "report", is_flag=True,
              help="Print the outcome report (as `upsell report` would from the outcomes "
                   "topic) instead of the offers.")
@click.option("--json", "as_json", is_flag=True,
              help="With --report or --compare: JSON instead of a table.")
@click.option("--html", "html_path", default=None, type=click.Path(dir_okay=False, writable=True),
              help="With --report (implied): also write the report as one self-contained HTML "
                   "page, a chart per trigger, to this file.")
@click.option("--compare", "old_rules_path", default=None, type=click.Path(dir_okay=False),
              help="Backtest: run these (older) rules too and print, per trigger and side by "
                   "side, the offers each version makes, those only one makes, the guards that "
                   "held each back and what each is credited with.")
@click.argument("events", type=click.File("rb"))
def replay(rules_path: str, events: BinaryIO, pretty: bool, partitions: int, report: bool,
           as_json: bool, html_path: str | None, old_rules_path: str | None) -> None:
    """Run the decision core over a JSON-lines file of events ('-' for stdin).

    Time is the events' time; timed triggers fire as it passes their due
    times. Offers go to stdout as JSON lines; a summary goes to stderr.
    """
    from streams.cli.replay import ReplaySummary
    from streams.cli.replay import replay as run_replay

    book = _load_book(rules_path)
    if old_rules_path is not None:
        if report or pretty or html_path:
            raise click.UsageError("--compare prints the backtest: it takes no --report, "
                                   "--pretty or --html")
        _backtest(events, book, _load_book(old_rules_path), partitions, as_json)
        return
    report = report or html_path is not None
    summary = ReplaySummary(outcomes=[] if report else None)
    out = sys.stdout.buffer
    for offer in run_replay(events, book, summary, partitions):
        if not report:
            line = describe_offer(offer) if pretty else offer.model_dump_json()
            out.write(line.encode() + b"\n")
    if summary.outcomes is not None:
        _print_report(summary.outcomes, as_json, html_path,
                      f"a replay of {events.name} with the rules {rules_path}")
    out.flush()
    click.echo(summary.render(), err=True)


def _backtest(events: BinaryIO, new: RuleBook, old: RuleBook, partitions: int,
              as_json: bool) -> None:
    from streams.cli.backtest import Backtest

    backtest = Backtest.of(events, new, old, partitions)
    for number, reason in backtest.read.bad_lines:
        click.echo(f"line {number}: {reason}", err=True)
    click.echo(orjson.dumps(backtest.summary(), option=orjson.OPT_INDENT_2).decode()
               if as_json else backtest.render())


def _print_report(outcomes: list[Any], as_json: bool, html_path: str | None = None,
                  source: str = "") -> None:
    from streams.cli.report import Report

    report = Report.of(outcomes)
    click.echo(orjson.dumps(report.summary(), option=orjson.OPT_INDENT_2).decode()
               if as_json else report.render())
    if html_path is not None:
        from datetime import UTC, datetime

        from streams.cli.report_html import write_html

        try:
            write_html(report, Path(html_path), source,
                       datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        except OSError as exc:
            click.echo(f"cannot write {html_path}: {exc.strerror}", err=True)
            sys.exit(1)
        click.echo(f"wrote {html_path}", err=True)


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


@rules.command("apply")
@_bootstrap_option
@click.argument("path", type=click.Path(dir_okay=False))
def rules_apply(path: str, bootstrap_servers: str | None) -> None:
    """Validate a rules file and publish it to the rules topic: every worker switches
    to it between two batches. A file with errors is refused with all of them (exit 1)."""
    from streams.cli.rules_cmd import apply_rules

    bootstrap, options = _kafka(bootstrap_servers)
    try:
        lines = asyncio.run(apply_rules(Path(path), bootstrap, TopicSettings(), options))
    except RulesError as exc:
        click.echo(f"{exc}\nnot applied: nothing was published", err=True)
        sys.exit(1)
    click.echo("\n".join(lines))


@rules.command("show")
@_bootstrap_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
def rules_show(bootstrap_servers: str | None, as_json: bool) -> None:
    """The rules version on the rules topic and the version each worker runs."""
    from streams.cli.rules_cmd import overview_json, render_overview, rules_overview

    bootstrap, options = _kafka(bootstrap_servers)
    overview = asyncio.run(rules_overview(bootstrap, TopicSettings(), options))
    click.echo(overview_json(overview) if as_json else render_overview(overview))


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
    from streams.runtime.errors import EngineError
    from streams.runtime.loop import Engine
    from streams.worker.app import run_worker
    from streams.worker.rules_service import RulesService

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
            log.error("the embedded broker did not start: %s", exc)
            sys.exit(1)
        bootstrap = broker.bootstrap_servers
        log.info("started an embedded broker at %s (memory only: for local runs; its topics "
                 "are lost when the worker stops)", bootstrap)
    assert bootstrap is not None
    try:
        try:  # the rules topic's latest good version, else the file (live_rules.py)
            start = asyncio.run(_starting_rules(settings, bootstrap))
        except EngineError as exc:
            log.error("stopping: %s", exc)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)
        message, fields = startup_line(settings, bootstrap, start.book.version)
        log.info(message, extra=fields)
        engine = Engine(settings, start.book, bootstrap)
        run_worker(settings, engine, RulesService(engine, start, settings, bootstrap))
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
        click.echo("\n".join(f"error: {line}" for line in setting_errors(exc, WorkerSettings)), err=True)
        sys.exit(2)
    except (OSError, ssl.SSLError) as exc:
        _fail(f"UPSELL_KAFKA_SSL_*: {exc}")
    return settings


async def _starting_rules(settings: WorkerSettings, bootstrap: str) -> StartingRules:
    """The rules to start with need the rules topic: wait for the broker as the
    engine does (streams/runtime/connect.py), and say so."""
    from streams.runtime.connect import ask_broker, retrying
    from streams.runtime.live_rules import read_starting_rules

    options = settings.kafka.client_options()

    async def attempt() -> StartingRules:
        await ask_broker(bootstrap, options)  # the real reason, if it refuses us
        return await read_starting_rules(settings.rules, bootstrap, settings.topics, options)

    return await retrying(attempt, bootstrap_servers=bootstrap,
                          backoff_max_s=settings.kafka.retry_backoff_max_s,
                          give_up_after_s=settings.kafka.start_wait_s)


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
    from streams.runtime.errors import TopicLayoutError
    from streams.runtime.topics import ensure_topics

    bootstrap, options = _kafka(bootstrap_servers)
    topics = TopicSettings() if topic is None else TopicSettings(events=topic)
    topic = topics.events

    async def send() -> tuple[int, list[tuple[int, str]]]:
        # Sending to a missing topic would let the broker create it with its own
        # layout; create the engine's topics first (a no-op when they exist), or
        # refuse when they would not share one partition count.
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

    try:
        sent, rejected = asyncio.run(send())
    except TopicLayoutError as exc:
        raise click.ClickException(f"nothing sent: {exc}") from None
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
@click.option("--bind", default=None,
              help="Address to listen on (default 127.0.0.1, or $UPSELL_INGEST_BIND).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default 6067, or $UPSELL_INGEST_PORT).")
def ingest(bootstrap_servers: str | None, bind: str | None, port: int | None) -> None:
    """Serve HTTP ingest for apps that do not speak Kafka: POST /v1/events and
    POST /v1/offers/{offer_id}/response (the worker serves them too).

    Needs UPSELL_INGEST_TOKEN: callers send it as `Authorization: Bearer <token>`.
    """
    from streams.worker.config import IngestSettings
    from streams.worker.ingest import EVENTS_PATH, OFFER_RESPONSE_PATH, make_ingest, run_ingest

    bootstrap, options = _kafka(bootstrap_servers)
    listen: dict[str, Any] = {key: value for key, value in {"bind": bind, "port": port}.items()
                              if value is not None}
    settings, topics = IngestSettings(**listen), TopicSettings()
    try:
        server = make_ingest(settings, bootstrap, topics, options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if server is None:
        raise click.UsageError("set UPSELL_INGEST_TOKEN to the token callers must send "
                               "(`Authorization: Bearer <token>`)")
    click.echo(f"ingest on http://{settings.bind}:{settings.port}: POST {EVENTS_PATH}, "
               f"POST {OFFER_RESPONSE_PATH}; events to {topics.events} at {bootstrap}", err=True)
    run_ingest(server, settings)


@main.command()
@_bootstrap_option
@click.option("--topic", default=None, help="Offers topic (default upsell-offers).")
@click.option("--pretty", is_flag=True, help="One readable line per offer instead of JSON.")
@click.option("--from-beginning", is_flag=True, help="Start with the oldest offers.")
def tail(bootstrap_servers: str | None, topic: str | None, pretty: bool,
         from_beginning: bool) -> None:
    """Print offers as they arrive, one JSON object per line (Ctrl-C to stop).

    On the dead-letter topic it prints each dead letter's reason and source,
    not its value: `upsell dlq` reads and redrives them."""
    from streams.cli.tail import describe_record, follow_records

    bootstrap, options = _kafka(bootstrap_servers)
    topics = TopicSettings()
    topic = topic or topics.offers
    if topic == topics.dlq:
        click.echo(f"{topic} is the dead-letter topic: `upsell dlq` lists it with values "
                   "on request, and redrives records", err=True)

    async def follow() -> None:
        async for record in follow_records(bootstrap, topic, from_beginning, **options):
            line = describe_record(record, pretty)
            if line is not None:
                click.echo(line)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow())


# -- ops: lag, topics, dead letters, one account's state --------------------

@main.command()
@_bootstrap_option
@click.option("--group", default=None, help="Consumer group (default: $UPSELL_GROUP_ID or "
              "upsell-engine).")
@click.option("--topic", default=None, help="Events topic (default: $UPSELL_TOPIC_EVENTS or "
              "usage-events).")
@click.option("--max-lag", type=click.IntRange(min=0), default=None,
              help="Exit 1 when the total lag (so also any partition's) exceeds this.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def lag(bootstrap_servers: str | None, group: str | None, topic: str | None,
        max_lag: int | None, as_json: bool) -> None:
    """Consumer-group lag per partition of the events topic, as the broker sees it:
    committed offset, high watermark, lag. Exit 0, 1 past --max-lag, 2 if it cannot
    be measured."""
    from streams.cli.lag import measure_lag, render
    from streams.cli.ops_errors import answer_or_exit
    from streams.runtime.settings import EngineSettings

    bootstrap, options = _kafka(bootstrap_servers)
    group = group or EngineSettings().group_id
    measured = answer_or_exit(measure_lag(bootstrap, options, group, topic or TopicSettings().events))
    click.echo(measured.to_json(max_lag).decode() if as_json else render(measured))
    if max_lag is not None and measured.total > max_lag:
        click.echo(f"total lag {measured.total} exceeds --max-lag {max_lag}", err=True)
        sys.exit(1)


@main.group()
def topics() -> None:
    """Check or create the engine's topics (names and layout: $UPSELL_TOPIC_*)."""


@topics.command("check")
@_bootstrap_option
def topics_check(bootstrap_servers: str | None) -> None:
    """Partition counts, replication and configs of each topic the engine uses; for
    each problem the command that repairs it. Exit 1 if there is one."""
    from streams.cli.ops_errors import answer_or_exit
    from streams.cli.topics import check_topics, render

    bootstrap, options = _kafka(bootstrap_servers)
    settings = TopicSettings()
    check = answer_or_exit(check_topics(bootstrap, options, settings))
    click.echo(render(check, settings))
    if check.problems:
        sys.exit(1)


@topics.command("create")
@_bootstrap_option
def topics_create(bootstrap_servers: str | None) -> None:
    """Create the missing topics with the settings' layout and configs; existing
    topics are left as they are (a problem with them is reported, as by check)."""
    from streams.cli.ops_errors import answer_or_exit
    from streams.cli.topics import TopicCheck, check_topics, render
    from streams.runtime.topics import create_missing_topics

    bootstrap, options = _kafka(bootstrap_servers)
    settings = TopicSettings()

    async def create() -> tuple[list[str], TopicCheck]:
        created = await create_missing_topics(bootstrap, settings, options)
        return created, await check_topics(bootstrap, options, settings)

    created, check = answer_or_exit(create())
    click.echo(f"created {', '.join(created)}" if created else "created none: all exist")
    click.echo(render(check, settings))
    if check.problems:
        sys.exit(1)


def _position(_ctx: click.Context, _param: click.Parameter,
              values: tuple[str, ...]) -> frozenset[tuple[int, int]]:
    from streams.cli.dlq import parse_position

    try:
        return frozenset(parse_position(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@_bootstrap_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Dead letters to list: the latest (or the first, --from-beginning).")
@click.option("--from-beginning", is_flag=True, help="List the oldest first.")
@click.option("--offset", "positions", multiple=True, callback=_position,
              metavar="PARTITION:OFFSET", help="Only this dead letter (as listed; repeatable).")
@click.option("--reason-contains", default=None, help="Only those whose reason contains this.")
@click.option("--all", "everything", is_flag=True, help="With --redrive: every dead letter.")
@click.option("--show-values", is_flag=True,
              help="Print the values too (customer data: off by default).")
@click.option("--redrive", is_flag=True,
              help="Send the selected dead letters back to the events topic (original key "
                   "and bytes), after the cause is fixed. Looks at the whole topic.")
@click.option("--dry-run", is_flag=True, help="With --redrive: say what would be sent, send nothing.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of text.")
def dlq(bootstrap_servers: str | None, limit: int, from_beginning: bool,
        positions: frozenset[tuple[int, int]], reason_contains: str | None, everything: bool,
        show_values: bool, redrive: bool, dry_run: bool, as_json: bool) -> None:
    """Read the dead-letter topic: why each record was refused, and where it came from."""
    from streams.cli.dlq import Selection, read_dead_letters
    from streams.cli.dlq import redrive as send_back
    from streams.cli.ops_errors import answer_or_exit

    bootstrap, options = _kafka(bootstrap_servers)
    selection = Selection(positions, reason_contains)
    if redrive and everything == selection.filters:
        raise click.UsageError("--redrive needs a selection: --offset, --reason-contains, "
                               "or --all (and --all alone)")
    if not redrive and (everything or dry_run):
        raise click.UsageError("--all and --dry-run go with --redrive")
    topics = TopicSettings()

    async def work() -> None:
        letters = await read_dead_letters(bootstrap, options, topics.dlq, selection,
                                          None if redrive else limit, from_beginning)
        if not redrive:
            for letter in letters:
                click.echo(orjson.dumps(letter.to_dict(show_values)).decode() if as_json
                           else letter.describe(show_values))
            if not as_json:
                click.echo(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'} "
                           f"shown from {topics.dlq}", err=True)
            return
        results = await send_back(bootstrap, options, topics.events, letters, dry_run)
        for result in results:
            click.echo(orjson.dumps(result.to_dict(topics.events, dry_run)).decode() if as_json
                       else result.describe(topics.events, dry_run))
        sent = sum(1 for r in results if r.skipped is None)
        click.echo(f"{'would send' if dry_run else 'sent'} {sent} of {len(results)} selected "
                   f"dead letters to {topics.events}", err=True)

    answer_or_exit(work())


@main.command()
@_bootstrap_option
@click.option("--rules", "rules_path", default=None, type=click.Path(dir_okay=False),
              help="Rules file, for the guards in force (default: $UPSELL_RULES, or "
                   "examples/saas-rules.yaml if it exists).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, exact (POSIX times).")
@click.argument("account")
def explain(bootstrap_servers: str | None, rules_path: str | None, as_json: bool,
            account: str) -> None:
    """An account's state as the engine keeps it (plan, gauges, counters, timers,
    fired levels, offers, silences) and what would hold its triggers back now,
    read from the changelog."""
    from streams.cli.explain import read_account, render, to_json
    from streams.cli.ops_errors import answer_or_exit

    bootstrap, options = _kafka(bootstrap_servers)
    settings = WorkerSettings()
    path = Path(rules_path) if rules_path is not None else settings.rules
    asked = rules_path is not None or "rules" in settings.model_fields_set
    book = _load_book(str(path)) if asked or path.exists() else None
    view = answer_or_exit(read_account(bootstrap, options, settings.topics, account,
                                 committed_only=settings.transactions))
    click.echo(to_json(view, book).decode() if as_json else render(view, book))
    if view.state is None:
        sys.exit(1)


@main.command()
@_bootstrap_option
@click.option("--topic", default=None, help="Outcomes topic (default upsell-outcomes).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--html", "html_path", default=None, type=click.Path(dir_okay=False, writable=True),
              help="Also write the report as one self-contained HTML page, a chart per "
                   "trigger, to this file (to share: no script, no external asset).")
def report(bootstrap_servers: str | None, topic: str | None, as_json: bool,
           html_path: str | None) -> None:
    """Per trigger: fired, held out, shown, answered, converted, conversion rate and lift
    over the holdout with 95% intervals, expansion MRR and post-upsell churn, from the
    outcomes topic (every worker's results)."""
    from streams.cli.outcomes_topic import NoOutcomesTopic, read_outcomes

    bootstrap, options = _kafka(bootstrap_servers)
    name = topic or TopicSettings().outcomes
    try:
        outcomes = asyncio.run(read_outcomes(bootstrap, name, **options))
    except NoOutcomesTopic:
        click.echo(f"no topic {name!r} on {bootstrap}: has a worker run there?", err=True)
        sys.exit(1)
    _print_report(outcomes, as_json, html_path, f"the outcomes topic {name}")


@main.command()
@click.option("--duration", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds to run.")
@click.option("--accounts", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--rate", type=click.IntRange(min=1), default=400, show_default=True,
              help="Events per second from the simulated product.")
@click.option("--web-port", type=click.IntRange(1, 65535), default=None,
              help="The worker's web port (default 6066 if free, else any free port).")
def demo(duration: float, accounts: int, rate: int, web_port: int | None) -> None:
    """The whole loop on this machine: embedded broker, worker, a simulated
    customer base, and the offers printed as they fire."""
    from streams.cli.demo import run_demo

    run_demo(duration=duration, accounts=accounts, rate=rate, web_port=web_port)


if __name__ == "__main__":  # pragma: no cover
    main()
