"""An account's home partition is the one every keyed Kafka producer picks for its key."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2

from streams.runtime.routing import home_partition

#: Key -> the Java client's `Utils.murmur2(key)` (a signed int), from Apache Kafka's
#: clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("key", "java_hash"), sorted(JAVA_MURMUR2.items()))
def test_partition_is_the_java_clients_for_known_keys(key: str, java_hash: int) -> None:
    assert murmur2(key.encode()) == java_hash & 0xFFFFFFFF  # same hash, unsigned
    for partitions in (1, 3, 8, 12, 64):
        # The Java client's BuiltInPartitioner.partitionForKey:
        # Utils.toPositive(Utils.murmur2(key)) % numPartitions, toPositive = n & 0x7fffffff.
        assert home_partition(key, partitions) == (java_hash & 0x7FFFFFFF) % partitions


def test_partition_agrees_with_aiokafkas_default_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for n in range(2_000):
        key = f"acct-{n:05d}-ü"  # non-ASCII too: the key is the UTF-8 bytes
        for partitions in (4, 8, 10):
            every = list(range(partitions))
            assert home_partition(key, partitions) == partitioner(key.encode(), every, every)
