"""Bluesky as an OSINT source for SynthralOS (AT Protocol XRPC)."""
