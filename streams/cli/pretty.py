"""Readable lines for people watching a terminal: offers, times."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.offers import Offer


def describe_offer(offer: Offer) -> str:
    """e.g. '2026-01-17 acct-00001 upsell basic -> Professional ($98/mo): 41 of 50 seats
    used (82%) [seats-80]'."""
    recommended = offer.recommended
    if recommended.price_monthly is None:
        price = "custom price"
    elif recommended.price_monthly == 0:
        price = "free"  # "$0/mo" reads like a mistake
    else:
        price = f"${recommended.price_monthly:g}/mo"
    step = "+" if recommended.type == "addon" else "->"
    return (
        f"{offer.created_at:%Y-%m-%d %H:%M} {offer.account_id} {offer.kind:<10} "
        f"{offer.current_plan or '?'} {step} {recommended.name} ({price}): "
        f"{offer.reason.text} [{offer.trigger_id}]"
    )


def utc_time(seconds: float) -> str:
    """POSIX seconds as a UTC time to the second, e.g. '2026-01-17 09:58:03'."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
