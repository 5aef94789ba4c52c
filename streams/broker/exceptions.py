"""What can go wrong with the embedded broker, so callers can catch exactly that."""


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""
