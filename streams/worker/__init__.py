"""The host process: the faust App around the runtime, its settings, metrics and health."""
