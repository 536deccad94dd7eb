"""Capabilities built into the host."""
