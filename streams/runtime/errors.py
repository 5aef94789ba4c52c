"""What can go wrong in the runtime, by name, so callers can catch exactly that."""

from __future__ import annotations


class EngineError(RuntimeError):
    """The engine cannot run with this broker, these topics or this configuration."""


class TopicLayoutError(EngineError):
    """The engine's topics do not (or, once created, would not) share one partition count."""
