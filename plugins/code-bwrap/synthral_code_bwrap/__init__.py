"""Sandboxed Python and JavaScript for SynthralOS: native interpreters under bubblewrap."""

__version__ = "0.1.0"
