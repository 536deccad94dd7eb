"""An LLM-guided browser agent for SynthralOS: the ``agent`` node (the project's own loop on Playwright)."""

from synthral_browser_agent.agent import BrowserAgent

__all__ = ["BrowserAgent"]
