"""A trigger as the hot path runs it: a condition, the offer it makes, its guards,
and the kind that words its reason. (The rules file's models of triggers are in
schemas/rules.py; the kinds that compile them are in triggers/kinds/.)"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from schemas.offers import OfferKind, Reason
from schemas.rules import Holdout
from triggers.conditions import Condition
from triggers.guards import Guard
from triggers.state import AccountState


class TriggerKind(Protocol):
    """One trigger's kind, compiled from its rules-file entry: what it fires on
    and how it says why."""

    @property
    def condition(self) -> Condition: ...

    def reason(self, firing: Firing, plan_name: str) -> Reason:
        """The reason of an offer, in the customer's numbers."""
        ...


class When(Protocol):
    """A trigger's `when:` condition over the account (segments, plan, tenure, MRR,
    metric levels, recent events), compiled from the rules file (triggers/when.py)."""

    def holds(self, state: AccountState, now: float) -> bool:
        """True when the account is in the segment at `now`."""
        ...

    def changes_at(self, state: AccountState, now: float) -> float | None:
        """The earliest time after `now` at which `holds` may change with no event
        (a tenure bound reached, a "within N days" running out); None: only an
        event can change it. Lets a timed trigger wait for its segment."""
        ...


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """What a trigger offers when it fires (resolved per account by the rule book)."""

    kind: OfferKind
    recommend: str  # next_tier, previous_tier, plan_with_feature, plan:<id>, addon:<id>
    valid_for: float  # seconds
    feature: str | None = None  # what plan_with_feature looks for (a feature gate's feature)


@dataclass(frozen=True, slots=True)
class Trigger:
    """A compiled trigger: a condition, the offer it makes, the guards that may hold it back."""

    id: str
    kind: TriggerKind
    condition: Condition  # kind.condition, kept at hand for the hot path
    remembers: bool  # condition.remembers, likewise
    offer: OfferTerms
    priority: int  # higher wins when several fire on one event
    guards: tuple[Guard, ...]
    when: When | None = None  # the segment it applies to; None: every account
    holdout: Holdout | None = None  # its control group (its own, or the rules file's)

    def holds_out(self, account_id: str) -> bool:
        """Is the account in this trigger's control group? A hash of (account, salt)
        in [0, 1) below the share: stable everywhere, drawn anew with a new salt."""
        holdout = self.holdout
        if holdout is None or holdout.share <= 0:
            return False
        digest = hashlib.blake2b(f"{holdout.salt}\x1f{account_id}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2**64 < holdout.share


class Firing(NamedTuple):
    """A trigger whose condition an event met, with the numbers its reason quotes.
    (A NamedTuple: built on the hot path, and the cheapest immutable record.)"""

    trigger: Trigger
    level: int  # the condition's level: which of a usage trigger's levels was reached
    value: float  # a metric's level after the event, or a score; a timed trigger's due time
    limit: float | None  # the plan's limit for the metric
    anchor: float | None = None  # a timed trigger's reference time: renewal, signup, last usage
