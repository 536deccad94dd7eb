"""S3-compatible object storage for SynthralOS (hand-written on boto3)."""
