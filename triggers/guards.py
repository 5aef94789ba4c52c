"""Guards: the moments not to make an offer, even though a trigger fired.

Each guard answers one question about an account at an event time and is
built only when the rules file configures it, so an unconfigured guard costs
nothing. Guards run only for triggers that fired, never per event. Each also
says until when it holds (`until`): a timed trigger held back fires when the
guard ends, and a guard that only an event can end (an open ticket) says inf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from schemas.rules import Guards
from triggers.pending import Pending
from triggers.state import AccountState

DAY = 86_400.0
INFINITY = float("inf")


class Guard(Protocol):
    @property
    def name(self) -> str: ...

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        """True when the offer must not be made now (`pending`: what this event has
        chosen so far, which the state does not hold yet)."""
        ...

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        """When a guard that holds back at `now` stops holding (inf: only an event ends it)."""
        ...


@dataclass(frozen=True, slots=True)
class OnboardingGrace:
    """Let a new customer feel the value before asking for more."""

    seconds: float
    name: str = "onboarding_grace"

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        return state.signed_up_at is not None and now < state.signed_up_at + self.seconds

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        assert state.signed_up_at is not None
        return state.signed_up_at + self.seconds


@dataclass(frozen=True, slots=True)
class OpenTicket:
    """No sales pitch while the customer is in a crisis."""

    severities: frozenset[str]
    name: str = "open_ticket"

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        severities = self.severities
        for is_open, severity, _ in state.tickets.values():  # noqa: SIM110 (no generator)
            if is_open and severity in severities:
                return True
        return False

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        return INFINITY  # until the ticket is resolved: an event


@dataclass(frozen=True, slots=True)
class LowScore:
    """A detractor needs care, not an offer (the silence is set when the score arrives)."""

    name: str = "low_score"

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        return now < state.low_score_until or now < pending.low_score_until

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        return state.low_score_until


@dataclass(frozen=True, slots=True)
class ResponseSilence:
    """Accept a no: a declined or dismissed recommendation stays silent for a while."""

    name: str = "response_silence"

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        until = state.silenced.get(target)
        return until is not None and now < until

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        return state.silenced[target]


@dataclass(frozen=True, slots=True)
class Cooldown:
    """The same trigger does not fire again for a while."""

    seconds: float
    name: str = "cooldown"

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        last = state.last_fired.get(trigger_id)
        # abs(): an event that arrives late still counts as close to the last offer.
        return last is not None and abs(now - last) < self.seconds

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        return state.last_fired[trigger_id] + self.seconds


@dataclass(frozen=True, slots=True)
class AccountCap:
    """Never pushy: at most N offers per account in any window, all triggers together."""

    max_offers: int
    seconds: float
    name: str = "account_cap"

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        recent, seconds = pending.offers, self.seconds
        for t in state.offer_times:  # a loop: no generator per call (timed triggers ask often)
            if abs(now - t) < seconds:
                recent += 1
        return recent >= self.max_offers

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        # The cap frees up once enough of the offers around `now` are a window away.
        recent = sorted(t for t in state.offer_times if abs(now - t) < self.seconds)
        excess = len(recent) - self.max_offers  # >= 0 while it holds back
        return recent[excess] + self.seconds


@dataclass(frozen=True, slots=True)
class AfterDownSell:
    """An account just offered a cheaper plan to keep it is at risk: no upsell or
    cross-sell on top of that for a while."""

    seconds: float
    name: str = "after_down_sell"

    def holds_back(
        self, state: AccountState, pending: Pending, trigger_id: str, target: str, now: float
    ) -> bool:
        # abs(): like the cooldown, a late event still counts as close to the down-sell.
        for record in state.offers:  # a loop: no generator per call
            if record.kind == "down_sell" and abs(now - record.created_at) < self.seconds:
                return True
        return False

    def until(self, state: AccountState, trigger_id: str, target: str, now: float) -> float:
        return max(record.created_at for record in state.offers
                   if record.kind == "down_sell"
                   and abs(now - record.created_at) < self.seconds) + self.seconds


def build_guards(
    config: Guards, cooldown_seconds: float, ignored: set[str], offer_kind: str = "upsell"
) -> tuple[Guard, ...]:
    """The guards of one trigger, cheapest and most telling first."""
    guards: list[Guard] = []
    if config.onboarding_grace_days > 0:
        guards.append(OnboardingGrace(config.onboarding_grace_days * DAY))
    if config.suppress_while_ticket_open:
        guards.append(OpenTicket(frozenset(config.suppress_while_ticket_open)))
    if config.low_score is not None:
        guards.append(LowScore())
    if config.silence_after_response:
        guards.append(ResponseSilence())
    if cooldown_seconds > 0:
        guards.append(Cooldown(cooldown_seconds))
    if config.account_cap is not None:
        guards.append(AccountCap(config.account_cap.max_offers, config.account_cap.per_days * DAY))
    if config.after_down_sell_days > 0 and offer_kind != "down_sell":
        guards.append(AfterDownSell(config.after_down_sell_days * DAY))
    return tuple(guard for guard in guards if guard.name not in ignored)
