"""MySQL and MariaDB for SynthralOS (hand-written on PyMySQL)."""
