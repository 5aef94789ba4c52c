"""A table of accounts: the one loop that feeds events to the decision core.

Replay, the simulator, the benchmarks and the tests all keep accounts in a
dict and run `evaluate` per event; this is that loop, written once. (The live
engine keeps one such table per partition, in streams/runtime/state_store.py.)
"""

from __future__ import annotations

from schemas.events import Event
from triggers.decide import Evaluation, evaluate
from triggers.rulebook import RuleBook
from triggers.state import AccountState
from triggers.tally import Tally


class AccountTable:
    """Accounts by id, created on first sight; every evaluation is tallied."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.accounts: dict[str, AccountState] = {}
        self.tally = Tally()

    def get(self, account_id: str) -> AccountState:
        """The account's state, created empty the first time it is asked for."""
        state = self.accounts.get(account_id)
        if state is None:
            state = self.accounts[account_id] = AccountState(account_id)
        return state

    def apply(self, event: Event) -> Evaluation:
        """Decide on one event for its account, and count what it did."""
        result = evaluate(self.get(event.account_id), event, self.book)
        self.tally.add(result)
        return result

    def __len__(self) -> int:
        return len(self.accounts)
