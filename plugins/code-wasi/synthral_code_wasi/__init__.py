"""Sandboxed Python for SynthralOS: CPython compiled to WASI on wasmtime."""

__version__ = "0.1.0"
