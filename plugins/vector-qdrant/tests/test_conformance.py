"""The SDK's conformance suites, in process and through a real runner process (local mode)."""

from __future__ import annotations

import tempfile

from synthral_sdk.testing import PluginConformance, VectorStoreConformance
from synthral_sdk.types import JSONObject

_FOLDER = tempfile.mkdtemp(prefix="qdrant-conformance-")


class TestPluginConformance(PluginConformance):
    dist = "synthral-vector-qdrant"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-vector-qdrant"
    capability = "qdrant"

    def store_config(self) -> JSONObject:
        return {"path": _FOLDER}

    def runner_config(self) -> JSONObject:
        # Local mode locks its folder to one process: the runner gets its own.
        return {"path": _FOLDER + "-runner"}
