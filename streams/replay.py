"""Offline replay: the decision core over a file of events, in file order.

The same `triggers.evaluate` the live engine runs, fed from JSON lines instead
of Kafka, so a rules change can be tried on yesterday's events before it goes
live, and so tests can predict what the live engine must publish.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from schemas.events import InvalidEvent, decode_event
from schemas.offers import Offer
from triggers import AccountState, RuleBook, evaluate


@dataclass
class ReplaySummary:
    """What a replay saw, for the report on stderr."""

    events: int = 0
    duplicates: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    offers_by_trigger: Counter[str] = field(default_factory=Counter)
    suppressed_by_guard: Counter[str] = field(default_factory=Counter)
    conversions_by_trigger: Counter[str] = field(default_factory=Counter)
    accounts: int = 0

    def render(self, max_bad_lines: int = 20) -> str:
        offers = sum(self.offers_by_trigger.values())
        lines = [
            f"events read: {self.events} ({self.accounts} accounts, "
            f"{self.duplicates} duplicates dropped)",
            f"bad lines: {len(self.bad_lines)}",
        ]
        for number, reason in self.bad_lines[:max_bad_lines]:
            lines.append(f"  line {number}: {reason}")
        if len(self.bad_lines) > max_bad_lines:
            lines.append(f"  ... and {len(self.bad_lines) - max_bad_lines} more")
        if self.ignored:
            lines.append(f"events ignored: {sum(self.ignored.values())}")
            lines.extend(f"  {reason}: {count}" for reason, count in self.ignored.most_common())
        lines.append(f"offers: {offers}")
        for trigger, count in sorted(self.offers_by_trigger.items()):
            converted = self.conversions_by_trigger.get(trigger, 0)
            lines.append(f"  {trigger}: {count} ({converted} converted)")
        lines.append(f"held back: {sum(self.suppressed_by_guard.values())}")
        lines.extend(
            f"  {guard}: {count}" for guard, count in sorted(self.suppressed_by_guard.items())
        )
        return "\n".join(lines)


def replay(
    lines: Iterable[bytes], book: RuleBook, summary: ReplaySummary | None = None
) -> Iterator[Offer]:
    """Yield the offers the engine makes for these JSON lines, in order."""
    summary = summary if summary is not None else ReplaySummary()
    states: dict[str, AccountState] = {}
    offer_triggers: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = decode_event(line.strip())
        except InvalidEvent as exc:
            summary.bad_lines.append((number, exc.reason))
            continue
        summary.events += 1
        state = states.get(event.account_id)
        if state is None:
            state = states[event.account_id] = AccountState(event.account_id)
        result = evaluate(state, event, book)
        if result.duplicate:
            summary.duplicates += 1
        if result.ignored is not None:
            summary.ignored[result.ignored] += 1
        for suppression in result.suppressed:
            summary.suppressed_by_guard[suppression.guard] += 1
        for offer_id in result.converted:
            summary.conversions_by_trigger[offer_triggers.get(offer_id, "?")] += 1
        for offer in result.offers:
            summary.offers_by_trigger[offer.trigger_id] += 1
            offer_triggers[offer.offer_id] = offer.trigger_id
            yield offer
    summary.accounts = len(states)
