"""The SDK's conformance suites: the plugin checks and the code-runtime checks."""

from __future__ import annotations

from synthral_sdk.testing import CodeRuntimeConformance


class TestConformance(CodeRuntimeConformance):
    dist = "synthral-code-gvisor"
    capability = "gvisor"
    languages = ("python", "javascript")
    network = True
