"""Crawl4AI for SynthralOS: ``crawl`` breadth-first to markdown, ``fetch_pages`` for the host's durable crawl."""

from synthral_scrape_crawl4ai.crawl import Crawl, FetchPages

__all__ = ["Crawl", "FetchPages"]
