"""Reddit as an OSINT source for SynthralOS (praw)."""
