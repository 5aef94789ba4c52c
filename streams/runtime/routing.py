"""Which partition an account lives on: the same murmur2 hash as the Java client
and aiokafka's default partitioner, so keyed producers in any language agree."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


@lru_cache(maxsize=262_144)
def home_partition(account_id: str, partitions: int) -> int:
    """The partition that holds this account's events, state and offers.

    murmur2 is pure Python (~4 us); the cache makes the per-event check cheap.
    """
    hashed: int = murmur2(account_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions
