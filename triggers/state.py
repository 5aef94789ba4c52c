"""AccountState: everything the engine remembers about one account.

Kept as a plain slotted object (not a pydantic model) because the live engine
holds one per account, for 100k+ accounts, and touches it on every event: it
must be small and cheap to read and write. It is serialised only at a
checkpoint (`encode_state`, and `AccountState.from_dict` to read it back),
never per event. The encoded form is what the changelog keeps, so it must
outlive the code that wrote it: it names its format (`v`), and reading it is
tolerant (see STATE_FORMAT).

Times are POSIX seconds (floats), taken from event time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from triggers.exceptions import StateFormatError

# The layout of an encoded state, written in it as "v" (a record without one is
# version 1, the first layout). Adding a field with a default needs no new
# version: `from_dict` gives a missing field its default and ignores keys it
# does not know, so a changelog written before the field existed still loads,
# and a record written by a newer engine loads in an older one during a rolling
# deploy. Bump it only when a field changes meaning or shape; `from_dict` then
# converts the older layouts it still reads, and refuses a newer one.
STATE_FORMAT = 1

# How many recent event ids an account remembers to drop duplicates. Producer
# retries resend an event within moments, so a short memory catches them; the
# live engine also skips records at or below the offsets it has checkpointed,
# so a crash replay does not depend on this window. The ids are kept as 64-bit
# hashes in hex, in one string (at most 512 characters per account), which
# orjson writes as it is: no conversion when the state is checkpointed.
DEDUPE_WINDOW = 32
FINGERPRINT_CHARS = 16
SEEN_CHARS = DEDUPE_WINDOW * FINGERPRINT_CHARS

# How many recent offers an account keeps to match responses and conversions.
OFFER_HISTORY = 16

# Resolved tickets are kept (so a late "opened" cannot reopen them) up to this count.
TICKET_HISTORY = 16

INFINITY = float("inf")


def event_fingerprint(event_id: str) -> str:
    """A stable 64-bit hash of an event id, in hex (Python's hash() changes between processes)."""
    return hashlib.blake2b(event_id.encode(), digest_size=FINGERPRINT_CHARS // 2).hexdigest()


@dataclass(slots=True)
class OfferRecord:
    """What the account remembers of an offer it was sent."""

    offer_id: str
    trigger_id: str
    kind: str
    target: str  # "plan:pro" or "addon:portfolio_reports"
    created_at: float
    # sent (made), held_out, shown, accepted, declined, dismissed, converted, expired,
    # withdrawn, churned: triggers/lifecycle.py
    status: str = "sent"
    expires_at: float = INFINITY  # unknown for records written before it was kept: never
    held_out: bool = False  # the account is in this trigger's control group: never sent
    shown_at: float | None = None
    converted_at: float | None = None

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> OfferRecord:
        """Tolerant like AccountState.from_dict: a missing status is "sent"."""
        try:
            return cls(row["offer_id"], row["trigger_id"], row["kind"], row["target"],
                       row["created_at"], row.get("status") or "sent",
                       _infinite(row.get("expires_at"), INFINITY), bool(row.get("held_out")),
                       row.get("shown_at"), row.get("converted_at"))
        except KeyError as missing:
            raise StateFormatError(f"an offer record without {missing}") from None


@dataclass(slots=True, eq=False)
class AccountState:
    """One account's state; changed in place by `triggers.evaluate`, once it has decided.

    A slotted dataclass: small in memory, and orjson serialises it natively
    (see `encode_state`), which keeps checkpoints cheap.
    """

    account_id: str
    v: int = field(default=STATE_FORMAT, init=False)  # the layout it is written in
    plan: str | None = None
    addons: tuple[str, ...] = ()  # sorted
    plan_at: float = float("-inf")  # event time of the subscription event applied
    signed_up_at: float | None = None
    gauges: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (value, at)
    counters: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # (total, start, end)
    fired_levels: dict[str, int] = field(default_factory=dict)  # trigger -> highest level fired
    last_fired: dict[str, float] = field(default_factory=dict)  # trigger -> last offer time
    offer_times: list[float] = field(default_factory=list)  # recent offers, for the account cap
    offers: list[OfferRecord] = field(default_factory=list)
    next_expiry: float = INFINITY  # the first open offer's expiry (triggers/lifecycle.py)
    silenced: dict[str, float] = field(default_factory=dict)  # target -> silent until
    tickets: dict[str, tuple[bool, str, float]] = field(default_factory=dict)  # (open, severity, at)
    low_score_until: float = float("-inf")
    seen: str = ""  # fingerprints of the last DEDUPE_WINDOW event ids, oldest first
    # -- time: what the moments that need no event are computed from ---------
    seen_at: float = float("-inf")  # latest event time applied: no timer fires before it
    plan_since: float | None = None  # when the current plan began
    renews_at: float | None = None  # the subscription's next renewal
    last_usage_at: float | None = None  # latest usage reading, any metric
    timers: dict[str, float] = field(default_factory=dict)  # timed trigger -> due time
    fired_windows: dict[str, float] = field(default_factory=dict)  # trigger -> last window fired
    # metric -> daily samples [(day, value)], oldest first; only metrics a window needs
    samples: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    # -- segments: what `when:` conditions read --------------------------------
    attributes: dict[str, str | float | bool] = field(default_factory=dict)
    attributes_at: float = float("-inf")  # event time of the account event applied last
    # "milestone:project_completed" -> latest time; only signals the rules ask about
    signals_at: dict[str, float] = field(default_factory=dict)
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # type -> (score, at)

    def has_seen(self, fingerprint: str) -> bool:
        """True if this event id was already applied.

        A substring search is the fastest membership test here; a match
        straddling two fingerprints has a ~2**-60 chance per event, far below
        any producer's duplicate rate.
        """
        return fingerprint in self.seen

    def remember_event(self, fingerprint: str) -> None:
        """Record an applied event id; the oldest drops out of the window."""
        seen = self.seen + fingerprint
        self.seen = seen if len(seen) <= SEEN_CHARS else seen[FINGERPRINT_CHARS:]

    def find_offer(self, offer_id: str) -> OfferRecord | None:
        for record in self.offers:
            if record.offer_id == offer_id:
                return record
        return None

    def remember_offer(self, record: OfferRecord, window: float) -> None:
        self.offers.append(record)
        if len(self.offers) > OFFER_HISTORY:
            del self.offers[0]
        if record.status == "sent" and record.expires_at < self.next_expiry:
            self.next_expiry = record.expires_at
        self.last_fired[record.trigger_id] = record.created_at
        now = record.created_at
        self.offer_times = [t for t in self.offer_times if abs(now - t) < window]
        self.offer_times.append(now)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountState:
        """A state from its encoded form (`orjson.loads(encode_state(state))`).

        Tolerant, so that a changelog outlives an upgrade: a missing or null
        field takes its default and an unknown key is ignored. A format newer
        than STATE_FORMAT is refused rather than misread.
        """
        version = data.get("v", 1)
        if not isinstance(version, int) or version > STATE_FORMAT:
            raise StateFormatError(
                f"state format {version!r} is newer than this engine reads ({STATE_FORMAT})"
            )
        account_id = data.get("account_id")
        if not isinstance(account_id, str):
            raise StateFormatError("a state without 'account_id'")
        get = data.get
        state = cls(
            account_id=account_id,
            plan=get("plan"),
            addons=tuple(get("addons") or ()),
            plan_at=_infinite(get("plan_at")),
            signed_up_at=get("signed_up_at"),
            gauges={k: (v[0], v[1]) for k, v in (get("gauges") or {}).items()},
            counters={k: (v[0], v[1], v[2]) for k, v in (get("counters") or {}).items()},
            fired_levels=dict(get("fired_levels") or {}),
            last_fired=dict(get("last_fired") or {}),
            offer_times=list(get("offer_times") or ()),
            offers=[OfferRecord.from_dict(row) for row in get("offers") or ()],
            next_expiry=_infinite(get("next_expiry"), INFINITY),
            silenced=dict(get("silenced") or {}),
            tickets={k: (v[0], v[1], v[2]) for k, v in (get("tickets") or {}).items()},
            low_score_until=_infinite(get("low_score_until")),
            seen=(get("seen") or "")[-SEEN_CHARS:],
            seen_at=_infinite(get("seen_at")),
            plan_since=get("plan_since"),
            renews_at=get("renews_at"),
            last_usage_at=get("last_usage_at"),
            timers=dict(get("timers") or {}),
            fired_windows=dict(get("fired_windows") or {}),
            samples={k: [(int(day), value) for day, value in v]
                     for k, v in (get("samples") or {}).items()},
            attributes=dict(get("attributes") or {}),
            attributes_at=_infinite(get("attributes_at")),
            signals_at=dict(get("signals_at") or {}),
            scores={k: (v[0], v[1]) for k, v in (get("scores") or {}).items()},
        )
        if "seen_at" not in data:
            state._date_from_history()
        return state

    def _date_from_history(self) -> None:
        """A state written before the time fields existed: date what it has seen from
        what it holds, so that a timed trigger does not fire as of before the
        account's known events (a tenure offer for a window long gone)."""
        readings = [at for _, at in self.gauges.values()]
        self.last_usage_at = max(readings, default=None)
        self.seen_at = max([self.plan_at, *readings, *(at for *_, at in self.tickets.values()),
                            *self.last_fired.values(), *self.offer_times])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccountState) and encode_state(self) == encode_state(other)

    __hash__ = None  # type: ignore[assignment]


def encode_state(state: AccountState) -> bytes:
    """JSON bytes of a state, its format `v` included: orjson writes the slotted
    dataclass natively (-inf times become null, which `from_dict` reads back)."""
    return orjson.dumps(state)


def _infinite(value: float | None, infinity: float = float("-inf")) -> float:
    """orjson writes an infinite time as null: read it back as the default's infinity."""
    return infinity if value is None else value
