"""Which fired triggers become offers: priority, one offer per product, guards.

Decided without touching the account: `choose` returns a Choice, and
`Choice.apply` writes it (the levels used up, the offers remembered) once the
whole event is decided.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from schemas.offers import Offer
from triggers.conditions import NOT_MET
from triggers.evaluation import NOTHING, Evaluation, Suppression
from triggers.lifecycle import made
from triggers.offers import build_offer
from triggers.pending import Pending
from triggers.rulebook import RuleBook
from triggers.state import AccountState, OfferRecord
from triggers.trigger import Firing


class Choice(NamedTuple):
    """An event's offers, decided and not yet applied."""

    offers: list[Offer]  # made: to send (held-out ones too, until `apply` sets them apart)
    records: list[OfferRecord]  # what the account will remember of those offers
    suppressed: list[Suppression]
    levels: list[tuple[str, int]]  # fired_levels to write, in order (NOT_MET: forget)

    def apply(self, state: AccountState, book: RuleBook) -> Evaluation:
        fired_levels = state.fired_levels
        for trigger_id, level in self.levels:
            if level == NOT_MET:
                del fired_levels[trigger_id]
            else:
                fired_levels[trigger_id] = level
        for record in self.records:
            state.remember_offer(record, book.cap_window)
        if not self.offers and not self.suppressed:
            return NOTHING
        # Held out: decided, remembered and counted by the guards like any offer; not sent.
        sent = tuple(o for o, r in zip(self.offers, self.records, strict=True) if not r.held_out)
        outcomes = tuple(made(o, r, book) for o, r in zip(self.offers, self.records, strict=True))
        return Evaluation(offers=sent, suppressed=tuple(self.suppressed), outcomes=outcomes)


def choose(
    state: AccountState,
    firings: list[Firing],
    levels: list[tuple[str, int]],
    caused_by: str,
    occurred_at: datetime,
    now: float,
    book: RuleBook,
    pending: Pending,
) -> Choice:
    """Guards and priority pick which of the fired triggers become offers
    (`levels`: the fired levels the event already re-armed; `caused_by`: the
    event's id, or a timed offer's due time, from which the offer id is made)."""
    if len(firings) > 1:
        firings.sort(key=lambda f: (-f.trigger.priority, f.trigger.id))
    choice = Choice([], [], [], levels)
    offered_targets: set[str] = set()
    for firing in firings:
        trigger = firing.trigger
        target = book.target_for(trigger.offer, state.plan, state.addons)
        if target is None:
            choice.suppressed.append(Suppression(trigger.id, "nothing_to_offer"))
            _use_level(choice, firing)
            continue
        if target.key in offered_targets:
            # One event, one offer per product: "reached" already covers "approaching".
            choice.suppressed.append(Suppression(trigger.id, "superseded"))
            _use_level(choice, firing)
            continue
        holding = None
        for guard in trigger.guards:
            if guard.holds_back(state, pending, trigger.id, target.key, now):
                holding = guard.name
                break
        if holding is not None:
            # The crossing stays pending: it fires on a later reading once guards allow.
            choice.suppressed.append(Suppression(trigger.id, holding))
            continue
        offer = build_offer(
            firing, target, state.account_id, state.plan, caused_by, occurred_at, book
        )
        _use_level(choice, firing)
        choice.offers.append(offer)
        held_out = trigger.holds_out(state.account_id)
        choice.records.append(OfferRecord(
            offer.offer_id, trigger.id, trigger.offer.kind, target.key, now,
            "held_out" if held_out else "sent", now + trigger.offer.valid_for, held_out,
        ))
        pending.offers += 1
        offered_targets.add(target.key)
    return choice


def _use_level(choice: Choice, firing: Firing) -> None:
    """A crossing that was offered (or had nothing to offer) does not fire again
    until the level is re-armed."""
    if firing.trigger.remembers:
        choice.levels.append((firing.trigger.id, firing.level))
