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


_NO_REASON_FIELDS = dict.fromkeys(Reason.model_fields)


def reason_with(**fields: object) -> Reason:
    """A Reason with every field given (the unset ones None): model_construct then
    skips resolving defaults, which is most of its cost."""
    return Reason.model_construct(**{**_NO_REASON_FIELDS, **fields})  # type: ignore[arg-type]
