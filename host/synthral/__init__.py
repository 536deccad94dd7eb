"""SynthralOS host core: plugin host, durable engine, services, API and CLI."""

__version__ = "0.1.0"
