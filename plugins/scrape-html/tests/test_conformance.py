"""The SDK's conformance suite, in process and through a real runner process."""

from __future__ import annotations

from synthral_sdk.testing import Example, PluginConformance

ARTICLE = "<html><head><title>T</title></head><body><p id='x'>Hello</p></body></html>"


class TestConformance(PluginConformance):
    dist = "synthral-scrape-html"
    examples = (
        Example(
            "scrape",
            {"url": "http://127.0.0.1/a", "html": ARTICLE, "include": ["text"], "fields": {"x": {"css": "#x"}}},
            expected={"title": "T", "fields": {"x": "Hello"}},
        ),
    )
