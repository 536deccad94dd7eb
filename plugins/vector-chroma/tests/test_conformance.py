"""The SDK's conformance suites, in process and through a real runner process ."""

from __future__ import annotations

import tempfile

from synthral_sdk.testing import PluginConformance, VectorStoreConformance
from synthral_sdk.types import JSONObject

_FOLDER = tempfile.mkdtemp(prefix="chroma-conformance-")


class TestPluginConformance(PluginConformance):
    dist = "synthral-vector-chroma"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-vector-chroma"
    capability = "chroma"

    def store_config(self) -> JSONObject:
        return {"path": _FOLDER}
