"""Trigger kinds, one module each, registered by the rules-file `kind` they compile.

Importing this package imports every kind, so the registry is complete.
"""

from triggers.kinds import (  # noqa: F401 (each module registers its kind)
    before_renewal,
    churn_signal,
    feature_gate,
    forecast,
    growth,
    inactivity,
    limit_reached,
    milestone,
    score_at_least,
    segment,
    tenure,
    usage_drop,
    usage_threshold,
)
from triggers.kinds.registry import KINDS, compile_kind, register

__all__ = ["KINDS", "compile_kind", "register"]
