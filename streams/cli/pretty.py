"""Readable output for people watching a terminal: offers, times, tables in columns."""

from __future__ import annotations

from collections.abc import Collection, Sequence
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


def columns(rows: Sequence[Sequence[str]], rules_under: Collection[int], left: int = 1) -> list[str]:
    """Rows in aligned columns, the first `left` flush left (names), the others flush
    right (numbers); a rule under each row numbered in `rules_under`."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines: list[str] = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) if i < left else cell.rjust(width)
                               for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
                     .rstrip())
        if number in rules_under:
            lines.append(rule)
    return lines


def utc_time(seconds: float) -> str:
    """POSIX seconds as a UTC time to the second, e.g. '2026-01-17 09:58:03'."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
