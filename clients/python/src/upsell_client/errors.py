"""What can go wrong before an event is sent, by name, so an app can catch exactly that."""

from __future__ import annotations


class InvalidEvent(ValueError):
    """An event the engine would refuse; `reason` names the field and the problem."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TopicNotReady(RuntimeError):
    """The events topic is missing, or has another partition count than expected:
    nothing is sent, so that no broker creates it with a layout of its own."""
