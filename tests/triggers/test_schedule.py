"""Schedule: a partition's clock and the heap of its accounts' due times, which
the sweep pops without looking at the accounts that are not due."""

from triggers.schedule import Schedule
from triggers.state import AccountState


def account(account_id: str, *due: float) -> AccountState:
    state = AccountState(account_id)
    state.timers = {f"trigger-{n}": at for n, at in enumerate(due)}
    return state


def due(schedule: Schedule) -> list[str]:
    """Every account due by the clock, taken off the index, earliest first."""
    found = []
    while (account_id := schedule.pop_due()) is not None:
        found.append(account_id)
    return found


def scheduled(*states: AccountState, clock: float = 0) -> Schedule:
    schedule = Schedule(clock)
    for state in states:
        schedule.track(state)
    return schedule


def test_only_the_accounts_due_by_the_clock_are_popped_earliest_first() -> None:
    schedule = scheduled(account("late", 30), account("early", 10), account("middle", 20, 40),
                         account("never"))
    assert len(schedule) == 3
    assert due(schedule) == []
    schedule.advance(20)
    assert schedule.has_due()
    assert due(schedule) == ["early", "middle"]  # middle's earliest timer is 20
    assert not schedule.has_due()
    assert due(schedule) == []  # taken off the index: a second sweep finds nothing
    assert len(schedule) == 1
    schedule.advance(1000)
    assert due(schedule) == ["late"]


def test_an_account_is_due_exactly_at_its_due_time() -> None:
    schedule = scheduled(account("a", 10))
    schedule.advance(9.999999)
    assert not schedule.has_due() and due(schedule) == []
    schedule.advance(10)
    assert due(schedule) == ["a"]


def test_the_clock_never_moves_back() -> None:
    schedule = scheduled(account("a", 10), clock=5)
    schedule.advance(12)
    schedule.advance(3)
    assert schedule.clock == 12
    assert due(schedule) == ["a"]


def test_a_moved_due_time_leaves_a_stale_entry_that_is_skipped() -> None:
    state = account("a", 10)
    schedule = scheduled(state)
    state.timers = {"trigger-0": 30}  # the account's timer moved later
    schedule.track(state)
    schedule.advance(15)
    assert due(schedule) == []  # the entry at 10 is stale
    schedule.advance(30)
    assert due(schedule) == ["a"]  # once, though it was pushed twice
    schedule.advance(100)
    assert due(schedule) == []


def test_a_due_time_moved_earlier_is_popped_at_the_earlier_time() -> None:
    state = account("a", 30)
    schedule = scheduled(state)
    state.timers = {"trigger-0": 10}
    schedule.track(state)
    schedule.advance(10)
    assert due(schedule) == ["a"]
    schedule.advance(30)
    assert due(schedule) == []


def test_an_account_without_timers_any_more_is_not_popped() -> None:
    state = account("a", 10)
    schedule = scheduled(state)
    state.timers = {}
    schedule.track(state)
    assert len(schedule) == 0
    schedule.advance(100)
    assert due(schedule) == []


def test_tracking_an_unchanged_due_time_pushes_nothing() -> None:
    state = account("a", 10)
    schedule = scheduled(state)
    for _ in range(1000):
        schedule.track(state)
    assert len(schedule._heap) == 1


def test_compaction_keeps_the_heap_within_twice_the_accounts_with_a_due_time() -> None:
    states = [account(f"acct-{n}", 1_000_000) for n in range(100)]
    schedule = scheduled(*states)
    for step in range(20_000):  # every account's due time moves again and again
        state = states[step % 100]
        state.timers = {"trigger-0": 1_000_000 + step}
        schedule.track(state)
        assert len(schedule._heap) <= 2 * len(schedule) + 64
    schedule.advance(2_000_000)
    assert sorted(due(schedule)) == sorted(s.account_id for s in states)
