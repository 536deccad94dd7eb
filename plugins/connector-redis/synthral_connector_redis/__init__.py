"""Redis for SynthralOS (hand-written on redis-py)."""
