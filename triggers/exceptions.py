"""What can go wrong in the decision core, by name, so callers catch exactly that."""

from __future__ import annotations


class StateFormatError(ValueError):
    """An encoded account state this engine cannot read: written by a newer engine
    (a format it does not know), or missing a field it cannot do without."""
