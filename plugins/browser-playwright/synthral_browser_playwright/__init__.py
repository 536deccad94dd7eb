"""Browser automation for SynthralOS: the ``browser`` node (action sequences on the system's Chromium)."""

from synthral_browser_playwright.browser import Browser, BrowserConfig, BrowserInput, BrowserOutput

__all__ = ["Browser", "BrowserConfig", "BrowserInput", "BrowserOutput"]
