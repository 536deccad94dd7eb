"""Job boards for SynthralOS: the ``jobs`` node (python-jobspy through the egress proxy)."""

from synthral_scrape_jobspy.jobs import Jobs

__all__ = ["Jobs"]
