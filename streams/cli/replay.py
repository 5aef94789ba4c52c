"""Offline replay: the decision core over a file of events, in file order.

The same core the live engine runs, fed from JSON lines instead of Kafka, so a
rules change can be tried on yesterday's events before it goes live, and so
tests can predict what the live engine must publish.

Time is the events' time (the live engine's `event` clock mode): timed
triggers fire as the events' clock passes their due times, and nothing fires
after the last event. The live engine keeps one clock per partition; given
the topic's partition count (`partitions`), replay places each account on the
partition the live partitioner gives its key and keeps one clock per
partition too, so the two make the same offers for the same events. With one
partition there is a single clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from schemas.events import Event, InvalidEvent, decode_event
from schemas.offers import Offer
from schemas.outcomes import Outcome
from streams.runtime.routing import home_partition
from triggers import RuleBook
from triggers.table import AccountTable
from triggers.tally import Tally


@dataclass
class ReplaySummary:
    """What a replay saw, for the report on stderr."""

    events: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    decisions: Tally = field(default_factory=Tally)
    accounts: int = 0
    outcomes: list[Outcome] | None = None  # kept only when asked for (`--report`)

    def render(self, max_bad_lines: int = 20) -> str:
        decisions = self.decisions
        lines = [
            f"events read: {self.events} ({self.accounts} accounts, "
            f"{decisions.duplicates} duplicates dropped)",
            f"bad lines: {len(self.bad_lines)}",
        ]
        for number, reason in self.bad_lines[:max_bad_lines]:
            lines.append(f"  line {number}: {reason}")
        if len(self.bad_lines) > max_bad_lines:
            lines.append(f"  ... and {len(self.bad_lines) - max_bad_lines} more")
        if decisions.ignored:
            lines.append(f"events ignored: {decisions.ignored.total()}")
            lines.extend(f"  {reason}: {n}" for reason, n in decisions.ignored.most_common())
        held_out = Counter({trigger: n for (trigger, status), n in decisions.outcomes.items()
                            if status == "held_out"})
        lines.append(f"offers: {decisions.offers.total()} (and {held_out.total()} held out: "
                     "the control group)")
        for trigger in sorted(decisions.offers.keys() | held_out.keys()):
            lines.append(f"  {trigger}: {decisions.offers[trigger]} ({held_out[trigger]} held "
                         f"out, {decisions.conversions[trigger]} converted)")
        lines.append(f"held back: {decisions.suppressed.total()}")
        lines.extend(f"  {guard}: {n}" for guard, n in sorted(decisions.suppressed.items()))
        return "\n".join(lines)


def replay(
    lines: Iterable[bytes],
    book: RuleBook,
    summary: ReplaySummary | None = None,
    partitions: int = 1,
) -> Iterator[Offer]:
    """Yield the offers the engine makes for these JSON lines, in order (per
    partition: two partitions' offers interleave as their events do)."""
    summary = summary if summary is not None else ReplaySummary()
    table = table_for(book, partitions)
    table.tally = summary.decisions
    for event in decoded(lines, summary):
        for result in table.apply(event):
            if summary.outcomes is not None:
                summary.outcomes.extend(result.outcomes)
            yield from result.offers
    summary.accounts = len(table)


def table_for(book: RuleBook, partitions: int) -> AccountTable:
    """An empty table whose accounts are placed, and clocked, as the live engine's are."""
    return AccountTable(book, partitions, home_partition if partitions > 1 else None)


def decoded(lines: Iterable[bytes], summary: ReplaySummary) -> Iterator[Event]:
    """The events of these JSON lines; each bad line is noted with its number and skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = decode_event(line.strip())
        except InvalidEvent as exc:
            summary.bad_lines.append((number, exc.reason))
            continue
        summary.events += 1
        yield event
