"""News as an OSINT source for SynthralOS: RSS/Atom feeds and the NewsCatcher API."""
