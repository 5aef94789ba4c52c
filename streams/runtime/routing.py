"""Which partition an account lives on: aiokafka's own default partitioner
(murmur2, the Java client's formula), so keyed producers in any language agree."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import DefaultPartitioner

_PARTITIONER = DefaultPartitioner()


@lru_cache(maxsize=262_144)
def home_partition(account_id: str, partitions: int) -> int:
    """The partition that holds this account's events, state and offers.

    The partitioner's murmur2 is pure Python (~4 us); the cache makes the
    per-event check cheap.
    """
    all_partitions = list(range(partitions))
    partition: int = _PARTITIONER(account_id.encode(), all_partitions, all_partitions)
    return partition
