"""The embedded Kafka-compatible broker, for local runs and tests only."""

from streams.broker.embedded import (
    EmbeddedBroker,
    find_broker_binary,
    free_port,
    run_broker_forever,
)
from streams.broker.exceptions import BrokerError

__all__ = ["BrokerError", "EmbeddedBroker", "find_broker_binary", "free_port", "run_broker_forever"]
