"""JavaScript pages for SynthralOS: ``render`` one page, ``render_pages`` a crawl's batch, on the system's Chromium."""

from synthral_scrape_playwright.render import Render, RenderPages

__all__ = ["Render", "RenderPages"]
