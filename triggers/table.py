"""A table of accounts: the one loop that feeds events to the decision core offline.

Replay, the simulator, the benchmarks and the tests all keep accounts and run
the core per event, with the timed triggers swept as the clock moves; this is
that loop, written once. Each partition has its own clock, as live: given the
live partition count and partitioner (`partition_of`), the table runs each
partition's events through its own `Timeline`, in the order they come, which
is what the live engine does in `event` clock mode. With one partition there
is one clock for all accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from schemas.events import Event
from triggers.decide import Evaluation
from triggers.rulebook import RuleBook
from triggers.state import AccountState
from triggers.tally import Tally
from triggers.timeline import Timeline


class AccountTable:
    """Accounts by id, created on first sight; every evaluation is tallied."""

    def __init__(
        self,
        book: RuleBook,
        partitions: int = 1,
        partition_of: Callable[[str, int], int] | None = None,
    ) -> None:
        if partitions > 1 and partition_of is None:
            raise ValueError("several partitions need the partitioner that places accounts")
        self.book = book
        self.accounts: dict[str, AccountState] = {}
        self.timelines = [Timeline(book, self.accounts) for _ in range(partitions)]
        self._partition_of = partition_of
        self.tally = Tally()

    def get(self, account_id: str) -> AccountState:
        """The account's state, created empty the first time it is asked for."""
        state = self.accounts.get(account_id)
        if state is None:
            state = self.accounts[account_id] = AccountState(account_id)
        return state

    def timeline_of(self, account_id: str) -> Timeline:
        return self.timelines[self._partition(account_id)]

    def _partition(self, account_id: str) -> int:
        if self._partition_of is None:
            return 0
        return self._partition_of(account_id, len(self.timelines))

    def apply(self, event: Event) -> list[Evaluation]:
        """What one event's arrival does, in order: the timers of its partition due by
        its time, then the event itself, then the timers it made due."""
        timeline = self.timeline_of(event.account_id)
        results = _raising(timeline.advance(event.occurred_at.timestamp()))
        results.append(timeline.apply(self.get(event.account_id), event))
        results.extend(_raising(timeline.sweep()))
        for result in results:
            self.tally.add(result)
        return results

    def advance(self, now: float) -> list[Evaluation]:
        """Move every partition's clock to `now` (the end of a replay, a simulated day)."""
        results = [result for timeline in self.timelines for result in _raising(timeline.advance(now))]
        for result in results:
            self.tally.add(result)
        return results

    def reschedule(self) -> None:
        """Index every account's due times in its own partition's timeline, and set
        each clock from that partition's accounts: after the states were restored
        (a checkpoint read back) or the rules changed. The timelines share the
        table's accounts, so each is given its own (`Timeline.reschedule()` alone
        would index every account on every partition)."""
        groups: list[list[AccountState]] = [[] for _ in self.timelines]
        for account_id, state in self.accounts.items():
            groups[self._partition(account_id)].append(state)
        for timeline, states in zip(self.timelines, groups, strict=True):
            timeline.reschedule(states)

    def use(self, book: RuleBook) -> None:
        """Decide with `book` from the next event on, as a live worker switches rules
        between two batches (Timeline.use, per partition)."""
        self.book = book
        for timeline in self.timelines:
            timeline.book = book
        self.reschedule()

    def __len__(self) -> int:
        return len(self.accounts)


def _raising(woken: Iterable[tuple[AccountState, Evaluation | Exception]]) -> list[Evaluation]:
    """Offline, a timer that raises is a bug to see, not to skip."""
    results = []
    for _, result in woken:
        if isinstance(result, Exception):
            raise result
        results.append(result)
    return results
