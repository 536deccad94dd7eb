"""The SDK's version (semantic versioning: the major is the plugin compatibility line)."""

__version__ = "1.11.0"
