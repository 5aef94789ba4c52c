"""Bytes per account (part of `make bench-core`): what a state costs where it is
kept outside the process, in the encoded form the changelog holds.

  state             `triggers.state.encode_state`, the JSON of one account
  changelog record  key + value of the account's changelog record, as the
                    engine writes it at a checkpoint (`PartitionState.drain_changes`
                    in streams/runtime/state_store.py); Kafka's own record and
                    batch overhead not included
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.harness import spread
from streams.runtime.state_store import PartitionState
from triggers import AccountState
from triggers.state import encode_state

Json = dict[str, Any]

# A realistic source offset in the changelog record: its digits count.
SOURCE_OFFSET = 1_000_000


def state_sizes(accounts: Mapping[str, AccountState]) -> Json:
    """mean, p50, p99 and max bytes of the encoded states and of their changelog records."""
    states = [len(encode_state(state)) for state in accounts.values()]
    partition = PartitionState(0)
    partition.accounts = dict(accounts)
    partition.applied = dict.fromkeys(accounts, SOURCE_OFFSET)
    partition.dirty = set(accounts)
    records = [len(key) + len(value) for key, value in partition.drain_changes()]
    return {"accounts": len(states), "state": _figures(states), "record": _figures(records)}


def _figures(sizes: list[int]) -> Json:
    figures = spread(sizes)
    figures["mean"] = sum(sizes) / len(sizes) if sizes else float("nan")
    figures["total"] = sum(sizes)
    return figures
