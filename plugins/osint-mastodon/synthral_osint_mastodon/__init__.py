"""Mastodon as an OSINT source for SynthralOS (REST and streaming APIs)."""
