"""AccountState: everything the engine remembers about one account.

Kept as a plain slotted object (not a pydantic model) because the live engine
holds one per account, for 100k+ accounts, and touches it on every event: it
must be small and cheap to read and write. It is serialised only at a
checkpoint (`to_dict`/`from_dict`), never per event.

Times are POSIX seconds (floats), taken from event time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# How many recent event ids an account remembers to drop duplicates. Producer
# retries resend an event within moments, so a short memory catches them; the
# live engine also skips records at or below the offsets it has checkpointed,
# so a crash replay does not depend on this window. 32 ids cost 256 bytes per
# account (8-byte hashes in one bytearray), about 26 MB for 100k accounts.
DEDUPE_WINDOW = 32
FINGERPRINT_SIZE = 8

# How many recent offers an account keeps to match responses and conversions.
OFFER_HISTORY = 16

# Resolved tickets are kept (so a late "opened" cannot reopen them) up to this count.
TICKET_HISTORY = 16

OPEN_STATUSES = ("sent", "shown")


def event_fingerprint(event_id: str) -> bytes:
    """A stable 64-bit hash of an event id (Python's hash() changes between processes)."""
    return hashlib.blake2b(event_id.encode(), digest_size=FINGERPRINT_SIZE).digest()


@dataclass(slots=True)
class OfferRecord:
    """What the account remembers of an offer it was sent."""

    offer_id: str
    trigger_id: str
    kind: str
    target: str  # "plan:pro" or "addon:portfolio_reports"
    created_at: float
    status: str = "sent"  # sent, shown, accepted, dismissed, declined, converted


class AccountState:
    """One account's state; mutated in place by `triggers.evaluate`."""

    __slots__ = (
        "account_id",
        "plan",
        "addons",
        "plan_at",
        "signed_up_at",
        "gauges",
        "counters",
        "fired_levels",
        "last_fired",
        "offer_times",
        "offers",
        "silenced",
        "tickets",
        "low_score_until",
        "seen",
        "seen_next",
    )

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.plan: str | None = None
        self.addons: frozenset[str] = frozenset()
        self.plan_at = float("-inf")  # event time of the subscription event applied
        self.signed_up_at: float | None = None
        self.gauges: dict[str, tuple[float, float]] = {}  # metric -> (value, at)
        self.counters: dict[str, tuple[float, float, float]] = {}  # metric -> (total, start, end)
        self.fired_levels: dict[str, int] = {}  # trigger -> index of highest level fired
        self.last_fired: dict[str, float] = {}  # trigger -> when it last made an offer
        self.offer_times: list[float] = []  # recent offers, for the account-wide cap
        self.offers: list[OfferRecord] = []
        self.silenced: dict[str, float] = {}  # target -> silent until
        self.tickets: dict[str, tuple[bool, str, float]] = {}  # id -> (open, severity, at)
        self.low_score_until = float("-inf")
        self.seen = bytearray(FINGERPRINT_SIZE * DEDUPE_WINDOW)  # a ring of fingerprints
        self.seen_next = 0

    def seen_before(self, fingerprint: bytes) -> bool:
        """True if this event id was already applied; otherwise remember it.

        A substring search over the ring is the fastest membership test here;
        a match straddling two slots has a 2**-56 chance per event, far below
        any producer's duplicate rate.
        """
        if fingerprint in self.seen:
            return True
        start = self.seen_next * FINGERPRINT_SIZE
        self.seen[start:start + FINGERPRINT_SIZE] = fingerprint
        self.seen_next = (self.seen_next + 1) % DEDUPE_WINDOW
        return False

    def find_offer(self, offer_id: str) -> OfferRecord | None:
        for record in self.offers:
            if record.offer_id == offer_id:
                return record
        return None

    def remember_offer(self, record: OfferRecord, window: float) -> None:
        self.offers.append(record)
        if len(self.offers) > OFFER_HISTORY:
            del self.offers[0]
        self.last_fired[record.trigger_id] = record.created_at
        now = record.created_at
        self.offer_times = [t for t in self.offer_times if abs(now - t) < window]
        self.offer_times.append(now)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot, for the changelog."""
        return {
            "v": 1,
            "account_id": self.account_id,
            "plan": self.plan,
            "addons": sorted(self.addons),
            "plan_at": _finite(self.plan_at),
            "signed_up_at": self.signed_up_at,
            "gauges": self.gauges,
            "counters": self.counters,
            "fired_levels": self.fired_levels,
            "last_fired": self.last_fired,
            "offer_times": self.offer_times,
            "offers": [
                [o.offer_id, o.trigger_id, o.kind, o.target, o.created_at, o.status]
                for o in self.offers
            ],
            "silenced": self.silenced,
            "tickets": self.tickets,
            "low_score_until": _finite(self.low_score_until),
            "seen": self.seen.hex(),
            "seen_next": self.seen_next,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountState:
        state = cls(data["account_id"])
        state.plan = data["plan"]
        state.addons = frozenset(data["addons"])
        state.plan_at = _infinite(data["plan_at"])
        state.signed_up_at = data["signed_up_at"]
        state.gauges = {k: (v[0], v[1]) for k, v in data["gauges"].items()}
        state.counters = {k: (v[0], v[1], v[2]) for k, v in data["counters"].items()}
        state.fired_levels = dict(data["fired_levels"])
        state.last_fired = dict(data["last_fired"])
        state.offer_times = list(data["offer_times"])
        state.offers = [OfferRecord(*row) for row in data["offers"]]
        state.silenced = dict(data["silenced"])
        state.tickets = {k: (v[0], v[1], v[2]) for k, v in data["tickets"].items()}
        state.low_score_until = _infinite(data["low_score_until"])
        seen = bytes.fromhex(data["seen"])[: FINGERPRINT_SIZE * DEDUPE_WINDOW]
        state.seen = bytearray(seen.ljust(FINGERPRINT_SIZE * DEDUPE_WINDOW, b"\0"))
        state.seen_next = data["seen_next"] % DEDUPE_WINDOW
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccountState) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AccountState(account_id={self.account_id!r}, plan={self.plan!r})"


def _finite(value: float) -> float | None:
    return None if value == float("-inf") else value


def _infinite(value: float | None) -> float:
    return float("-inf") if value is None else value
