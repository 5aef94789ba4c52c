"""The decision core: pure, synchronous, no I/O. `evaluate(state, event, book)`."""

from triggers.decide import Evaluation, Suppression, evaluate
from triggers.rulebook import RuleBook
from triggers.state import AccountState

__all__ = ["AccountState", "Evaluation", "RuleBook", "Suppression", "evaluate"]
