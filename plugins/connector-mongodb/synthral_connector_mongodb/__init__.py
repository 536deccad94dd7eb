"""MongoDB for SynthralOS (hand-written on PyMongo)."""
