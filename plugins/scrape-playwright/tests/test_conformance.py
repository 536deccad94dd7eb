"""The SDK's conformance suite."""

from __future__ import annotations

from synthral_sdk.testing import PluginConformance


class TestConformance(PluginConformance):
    dist = "synthral-scrape-playwright"
