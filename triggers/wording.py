"""Words for offers: numbers and identifiers as a customer reads them, and the
cheap way to build a Reason on the hot path."""

from __future__ import annotations

from schemas.offers import Reason


def format_number(value: float) -> str:
    """41.0 -> '41', 10000 -> '10,000', 2.5 -> '2.5'."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def words(identifier: str) -> str:
    """project_completed -> 'project completed'."""
    return identifier.replace("_", " ")


# Every field None: each reason is a copy of it. model_copy copies a dict and sets
# the given fields, half the cost of model_construct (aliases, defaults, per field).
_NO_REASON = Reason.model_construct(**dict.fromkeys(Reason.model_fields))  # type: ignore[arg-type]


def reason_with(**fields: object) -> Reason:
    """A Reason with the given fields, the others None (validated data: not validated again)."""
    return _NO_REASON.model_copy(update=fields)
