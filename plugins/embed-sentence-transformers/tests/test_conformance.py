"""The SDK's conformance suite, in process and through a real runner process."""

from __future__ import annotations

from synthral_sdk.testing import Example, PluginConformance


class TestConformance(PluginConformance):
    dist = "synthral-embed-sentence-transformers"
    examples = (Example("sentence-transformers", {"texts": ["hello"]}, expected={"dimensions": 384}),)
