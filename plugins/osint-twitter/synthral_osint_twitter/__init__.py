"""X (Twitter) as an OSINT source for SynthralOS (tweepy, X API v2)."""
