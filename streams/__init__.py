"""The Kafka runtime, the worker process and the `upsell` command."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("upsell")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
