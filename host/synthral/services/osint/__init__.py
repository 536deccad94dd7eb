"""OSINT: live source streams owned by the scheduler, signals kept once, alert rules and digests."""
