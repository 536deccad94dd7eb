"""The SDK's conformance suite, in process and through a real runner process."""

from __future__ import annotations

from synthral_sdk.testing import Example, PluginConformance


class TestConformance(PluginConformance):
    dist = "synthral-embed-model2vec"
    examples = (Example("model2vec", {"texts": ["hello world"]}, expected={"model": "model2vec/all-MiniLM-L6-v2-256"}),)
