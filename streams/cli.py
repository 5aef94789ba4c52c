"""The `upsell` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

import click

from schemas.rules_file import LoadedRules, RulesError, load_rules
from streams.pretty import describe_offer
from triggers import RuleBook


def _load_book(path: str) -> RuleBook:
    """Load rules or exit 1 with every problem, one per line."""
    try:
        return RuleBook.compile(load_rules(path))
    except RulesError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


@click.group()
def main() -> None:
    """upsell: a Kafka-native trigger engine for product-led growth."""


@main.command()
@click.option("--rules", "rules_path", required=True, type=click.Path(dir_okay=False),
              help="The rules file (YAML).")
@click.option("--pretty", is_flag=True, help="One readable line per offer instead of JSON.")
@click.argument("events", type=click.File("rb"))
def replay(rules_path: str, events: BinaryIO, pretty: bool) -> None:
    """Run the decision core over a JSON-lines file of events ('-' for stdin).

    Offers go to stdout as JSON lines; a summary goes to stderr.
    """
    from streams.replay import ReplaySummary
    from streams.replay import replay as run_replay

    book = _load_book(rules_path)
    summary = ReplaySummary()
    out = sys.stdout.buffer
    for offer in run_replay(events, book, summary):
        line = describe_offer(offer) if pretty else offer.model_dump_json()
        out.write(line.encode() + b"\n")
    out.flush()
    click.echo(summary.render(), err=True)


@main.command()
def demo() -> None:
    """Show the engine at work on the shipped sample events.

    The live engine on Kafka is not built yet: this runs the offline replay of
    examples/events.jsonl with examples/saas-rules.yaml, the very decisions the
    live engine will make.
    """
    from streams.replay import ReplaySummary
    from streams.replay import replay as run_replay

    click.echo("upsell demo: offline replay of examples/events.jsonl "
               "(the live Kafka engine is not built yet)\n")
    book = _load_book("examples/saas-rules.yaml")
    summary = ReplaySummary()
    with open("examples/events.jsonl", "rb") as events:
        for offer in run_replay(events, book, summary):
            click.echo(describe_offer(offer))
    click.echo("\n" + summary.render())


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

    from streams.simulator import Simulator
    from streams.simulator import with_mistakes as add_mistakes

    events = list(Simulator(_load_book(rules_path), accounts, seed=seed).events(days))
    lines = add_mistakes(events) if with_mistakes else [orjson.dumps(e) for e in events]
    out = sys.stdout.buffer
    for line in lines:
        out.write(line + b"\n")


if __name__ == "__main__":  # pragma: no cover
    main()
