"""Email over SMTP for SynthralOS (hand-written on the standard library)."""
