"""The live tests of the client run on the same brokers as the engine's (tests/streams)."""

from tests.streams.conftest import broker, kafka, topic_prefix

__all__ = ["broker", "kafka", "topic_prefix"]
