"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synthral_browser_playwright.browser import BROWSER, Browser
from synthral_sdk import Node, hookimpl

__all__ = ["synthral_nodes", "synthral_shutdown"]


@hookimpl
def synthral_nodes() -> Sequence[Node[Any, Any, Any]]:
    """Offer the ``browser`` node."""
    return [Browser()]


@hookimpl
def synthral_shutdown() -> None:
    """Let the browser go with the process (its processes die with their parent's pipes)."""
    BROWSER.killed = "the plugin is shutting down"
