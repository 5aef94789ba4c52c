"""`upsell explain`: an account's state read back from the changelog is the
state the decision core gives offline for the same events, and the guards it
says hold a trigger back are the ones the engine applies."""

from __future__ import annotations

import math
from pathlib import Path

import orjson

from schemas.events import InvalidEvent, decode_event
from streams.cli.explain import HeldBack, held_back
from streams.runtime.routing import home_partition
from tests.factories import Account, book, example_book, held
from tests.streams.cli_runs import decide, upsell
from tests.streams.conftest import KafkaUnderTest
from tests.streams.kafka_helpers import EXAMPLE_EVENTS, settings_for
from triggers.periods import DAY
from triggers.state import encode_state
from triggers.table import AccountTable

LINES = EXAMPLE_EVENTS.read_bytes().splitlines()


def _offline_table() -> AccountTable:
    """The sample's accounts as the core leaves them on 4 partitions, event clock."""
    table = AccountTable(example_book(), 4, home_partition)
    for line in LINES:
        try:
            event = decode_event(line)
        except InvalidEvent:
            continue
        table.apply(event)
    return table


def test_a_cooldown_explained_is_the_cooldown_the_engine_applies() -> None:
    account = Account(book(guards="cooldown_days: 14"))
    account.send("milestone", day=0, name="project_completed")
    day_5 = account.state.last_fired["done"] + 5 * DAY
    assert HeldBack("done", "cooldown", account.state.last_fired["done"] + 14 * DAY) in held_back(
        account.state, account.book, day_5)
    assert held(account.send("milestone", day=5, name="project_completed")) == [
        ("done", "cooldown")]


def test_an_open_ticket_holds_until_an_event_and_a_plan_without_the_add_on_has_nothing() -> None:
    rules = book(guards="suppress_while_ticket_open: [high]")
    account = Account(rules, plan="pro")
    account.send("ticket", ticket_id="T-1", status="opened", severity="high")
    assert HeldBack("done", "open_ticket", math.inf) in held_back(
        account.state, rules, account.state.seen_at)
    assert held(account.send("milestone", name="project_completed")) == [("done", "open_ticket")]
    enterprise = Account(rules, plan="enterprise", account_id="big")  # reports: basic, pro only
    assert HeldBack("done", "nothing_to_offer", None) in held_back(
        enterprise.state, rules, enterprise.state.seen_at)
    assert held(enterprise.send("milestone", name="project_completed")) == [
        ("done", "nothing_to_offer")]


async def test_explain_reads_the_state_the_core_gives_offline_and_shows_it_readably(
    kafka: KafkaUnderTest, topic_prefix: str
) -> None:
    settings = settings_for(kafka, topic_prefix)
    await decide(settings, LINES)
    table = _offline_table()
    busiest = max(table.accounts.values(), key=lambda state: len(state.offers))
    for account_id in [*sorted(table.accounts)[:2], busiest.account_id]:
        explained = await upsell(settings, "explain", account_id, "--json")
        assert explained.returncode == 0, explained.stderr
        view = orjson.loads(explained.stdout)
        partition = home_partition(account_id, 4)
        assert view["changelog"] == {"topic": settings.topics.changelog, "partition": partition,
                                     "partitions": 4}
        assert view["state"] == orjson.loads(encode_state(table.accounts[account_id]))
        assert view["partition_clock"] == table.timelines[partition].schedule.clock
        assert view["rules_version"] == example_book().version

    text = await upsell(settings, "explain", busiest.account_id)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"account {busiest.account_id}: partition "
                               f"{home_partition(busiest.account_id, 4)} of "
                               f"{settings.topics.changelog} (4 partitions)")
    assert f"plan: {busiest.plan} " in text.stdout
    for offer in busiest.offers:
        assert any(offer.offer_id in line and offer.trigger_id in line for line in lines)
    assert any(line.startswith("held back now (if a trigger fired at ") for line in lines)
    assert "The state keeps no log of past held-back decisions" in lines[-1]


async def test_explain_of_an_unknown_account_exits_1_and_without_rules_says_so(
    kafka: KafkaUnderTest, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(kafka, topic_prefix)
    await decide(settings, LINES[:40])
    unknown = await upsell(settings, "explain", "ACCT-00007")
    assert unknown.returncode == 1
    assert unknown.stdout.startswith("no state for account ACCT-00007 on partition ")
    known = decode_event(LINES[0]).account_id
    # Run elsewhere, where the default examples/saas-rules.yaml is not.
    without = await upsell(settings, "explain", known, cwd=tmp_path)
    assert without.returncode == 0, without.stderr
    assert "no rules file: guards not computed (give --rules)" in without.stdout
    assert "held back now" not in without.stdout
    asked = await upsell(settings, "explain", known, "--rules", "no-such.yaml")
    assert asked.returncode == 1
    assert "no-such.yaml" in asked.stderr
