"""Schedule: one partition's clock and the index of its accounts' due times.

The sweep must touch only the accounts that are due, never scan them all: a
heap of (due time, account) gives the earliest in O(1) and each due account in
O(log n). An account is in the heap under the due time it was last scheduled
at (`_scheduled`); an entry that no longer matches is stale and skipped when
popped, and the heap is rebuilt when stale entries outnumber live ones, so it
stays within twice the accounts that have a due time.
"""

from __future__ import annotations

import heapq

from triggers.state import AccountState

NEVER = float("-inf")


class Schedule:
    """`advance(t)` moves the clock (never back); `due()` pops the accounts due by it."""

    def __init__(self, clock: float = NEVER) -> None:
        self.clock = clock
        self._heap: list[tuple[float, str]] = []
        self._scheduled: dict[str, float] = {}

    def __len__(self) -> int:
        """Accounts with a due time."""
        return len(self._scheduled)

    def advance(self, now: float) -> None:
        if now > self.clock:
            self.clock = now

    def has_due(self) -> bool:
        """Cheap enough to ask on every event: one comparison."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= self.clock

    def track(self, state: AccountState) -> None:
        """Index the account under its earliest due time (or drop it: none)."""
        timers = state.timers
        due = min(timers.values()) if timers else None
        account_id = state.account_id
        scheduled = self._scheduled.get(account_id)
        if due == scheduled:
            return
        if due is None:
            del self._scheduled[account_id]  # its heap entry is now stale
            return
        self._scheduled[account_id] = due
        heapq.heappush(self._heap, (due, account_id))
        if len(self._heap) > 2 * len(self._scheduled) + 64:
            self._compact()

    def pop_due(self) -> str | None:
        """The earliest account due by the clock, taken off the index (None: none is).
        One at a time, so that a sweep that stops half way (an exception in one
        account's wake) leaves the accounts it did not reach on the index."""
        heap, scheduled, clock = self._heap, self._scheduled, self.clock
        while heap and heap[0][0] <= clock:
            due, account_id = heapq.heappop(heap)
            if scheduled.get(account_id) == due:
                del scheduled[account_id]
                return account_id
        return None

    def _compact(self) -> None:
        self._heap = [(due, account_id) for account_id, due in self._scheduled.items()]
        heapq.heapify(self._heap)
