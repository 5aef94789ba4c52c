"""A benchmark child process: `python -m bench.child MODULE:FUNCTION JSON`.

Runs the coroutine function on the JSON arguments and reports what it returns
as the `result` message (see bench/harness.py). Started by harness.Child only.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bench.harness import emit


def main(argv: list[str]) -> None:
    target, raw = argv
    module, _, name = target.partition(":")
    function: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] = getattr(
        importlib.import_module(module), name
    )

    async def run() -> dict[str, Any]:
        return await function(json.loads(raw))

    emit(kind="result", **asyncio.run(run()))


if __name__ == "__main__":
    main(sys.argv[1:])
