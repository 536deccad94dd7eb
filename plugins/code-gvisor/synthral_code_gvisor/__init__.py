"""Sandboxed Python and JavaScript for SynthralOS: native interpreters inside gVisor."""

__version__ = "0.1.0"
