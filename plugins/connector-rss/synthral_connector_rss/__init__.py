"""RSS and Atom feeds for SynthralOS (hand-written on feedparser)."""
