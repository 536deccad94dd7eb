"""The SDK's conformance suite, in process and through a real runner process."""

from __future__ import annotations

from synthral_sdk.testing import PluginConformance


class TestConformance(PluginConformance):
    dist = "synthral-obs-langfuse"
