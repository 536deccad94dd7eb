"""PostgreSQL for SynthralOS (hand-written on psycopg 3)."""
