"""Timeline: one partition's accounts in time order, events and due timers
interleaved as the clock moves.

The same steps run live (streams/runtime/loop.py, per partition) and offline
(triggers/table.py, per simulated partition), which is what makes a replay in
`event` clock mode give what the live engine gives:

1. `advance(t)` before an event at time t: the clock moves to t (never back),
   and the timers due by then fire first, each at its own due time;
2. `apply(state, event)`: the event is decided and applied, and the account's
   due times are indexed again;
3. `sweep()`: whatever that event made due by the clock fires now (a renewal
   learned inside its window is offered at once).

Between events, the live engine calls `advance` with its clock (`wall` mode:
the wall clock once the partition is caught up).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from schemas.events import Event
from triggers.decide import Evaluation, evaluate
from triggers.rulebook import RuleBook
from triggers.schedule import Schedule
from triggers.state import AccountState, encode_state
from triggers.timers import refresh_timers, wake

# How long the timers of an account whose wake raised (a bug) wait to try again:
# long enough not to flood the logs, short enough that a fixed deploy catches up.
RETRY_AFTER = 3_600.0


class Timeline:
    """The accounts of one partition, their clock and their due times."""

    def __init__(
        self,
        book: RuleBook,
        accounts: dict[str, AccountState] | None = None,
        drop_expired: bool = False,
    ) -> None:
        self.book = book
        self.accounts: dict[str, AccountState] = accounts if accounts is not None else {}
        self.schedule = Schedule()
        self.drop_expired = drop_expired  # see timers.wake

    def advance(self, now: float) -> list[tuple[AccountState, Evaluation | Exception]]:
        """Move the clock to `now` and fire what is due by then."""
        self.schedule.advance(now)
        return self.sweep()

    def sweep(self, limit: int | None = None) -> list[tuple[AccountState, Evaluation | Exception]]:
        """Fire what is due by the clock: (account, what its timers did), one per
        account; at most `limit` accounts (the rest stay due: the live engine lets
        the event loop breathe between chunks of a large sweep).

        Eager, not a generator: a caller that does not read the results must not
        leave due timers unfired. Accounts are taken off the index one at a time.
        A wake that raises (a bug) leaves nothing behind: the account comes back
        as it was, with the exception, and its timers try again RETRY_AFTER later;
        the other accounts due are still woken."""
        schedule = self.schedule
        if not schedule.has_due():
            return []
        book, accounts, clock = self.book, self.accounts, schedule.clock
        woken: list[tuple[AccountState, Evaluation | Exception]] = []
        while (limit is None or len(woken) < limit) and (
            account_id := schedule.pop_due()
        ) is not None:
            state = accounts.get(account_id)
            if state is None:
                continue  # deleted since it was scheduled
            before = encode_state(state)
            try:
                result: Evaluation | Exception = wake(state, clock, book, self.drop_expired)
            except Exception as exc:
                state = accounts[account_id] = AccountState.from_dict(orjson.loads(before))
                state.timers = dict.fromkeys(state.timers, clock + RETRY_AFTER)
                result = exc
            schedule.track(state)
            woken.append((state, result))
        return woken

    def get(self, account_id: str) -> AccountState:
        """The account's state, created empty the first time it is asked for."""
        state = self.accounts.get(account_id)
        if state is None:
            state = self.accounts[account_id] = AccountState(account_id)
        return state

    def apply(self, state: AccountState, event: Event) -> Evaluation:
        """Decide on one event and index the account's due times again."""
        result = evaluate(state, event, self.book)
        if state.timers or self.book.timed:
            self.schedule.track(state)
        return result

    def reschedule(self, accounts: Iterable[AccountState] | None = None) -> None:
        """Recompute and index the due times of `accounts` (default: all of this
        timeline's): after a restore, or with new rules (a trigger added, removed or
        changed). The one full scan, once.

        The clock moves to the latest event the accounts applied: in `event` mode
        that is where it was before the restore, for a checkpoint that does not
        keep the clock (replay's; the live changelog keeps it too).
        Left at its start, an event behind the old clock would be decided before
        timers the old clock had already passed, where the first run fired them
        before it, and a restart would change offers (a tenure offer held back by
        the ticket that late event opens)."""
        book, schedule = self.book, self.schedule
        latest = schedule.clock
        for state in self.accounts.values() if accounts is None else accounts:
            if book.timed or state.timers:
                refresh_timers(state, book)
            schedule.track(state)
            if state.seen_at > latest:
                latest = state.seen_at
        schedule.advance(latest)

    def use(self, book: RuleBook) -> None:
        """Decide with `book` from now on (new rules, between two events). The
        accounts keep what they remember per trigger id (fired levels, cooldowns,
        fired windows); their due times are recomputed under `book`."""
        self.book = book
        self.reschedule()
