"""Static pages for SynthralOS workflows: ``scrape`` (one page) and ``fetch_pages`` (a crawl's batch).

Pages are fetched with the SDK's shared politeness and proxy layer (robots.txt, per-domain
pace, retries, User-Agent rotation, a proxy pool from the ``proxies`` credential), parsed
with selectolax, and returned as text, markdown (trafilatura), links, metadata, tables and
fields chosen by CSS or XPath, with self-healing of CSS selectors that stopped matching.
"""

from synthral_scrape_html.extract import FieldSpec, Link
from synthral_scrape_html.scrape import FetchPages, Scrape

__all__ = ["FetchPages", "FieldSpec", "Link", "Scrape"]
