"""What stops an ops command (lag, topics, dlq, explain) from answering, and
how the command line reports it: one line on stderr and exit 2, never a
traceback (exit 1 is each command's own "found a problem")."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import click
from aiokafka.errors import KafkaError

T = TypeVar("T")


class CannotAnswer(Exception):
    """What the command reads is not on the broker (yet)."""


class TopicMissing(CannotAnswer):
    """A topic the command reads does not exist."""


class WatermarkUnknown(CannotAnswer):
    """The broker reported no high watermark for some partitions in time."""


def answer_or_exit(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's work, or say in one line why it cannot answer, and exit 2."""
    try:
        return asyncio.run(work)
    except CannotAnswer as exc:
        _exit(str(exc))
    except KafkaError as exc:
        _exit(f"the broker did not answer: {exc}")


def _exit(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(2)
