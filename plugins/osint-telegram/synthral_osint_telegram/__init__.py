"""Telegram as an OSINT source for SynthralOS (Bot API)."""
