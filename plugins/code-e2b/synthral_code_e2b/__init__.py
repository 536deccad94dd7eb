"""Sandboxed Python and JavaScript for SynthralOS in E2B cloud sandboxes."""

__version__ = "0.1.0"
