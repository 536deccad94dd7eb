"""Scrapy spiders for SynthralOS: the ``crawl`` node, items streamed to the host as they are scraped."""

from synthral_scrape_scrapy.crawl import Crawl

__all__ = ["Crawl"]
