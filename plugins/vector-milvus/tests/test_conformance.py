"""The SDK's conformance suites, in process and through a real runner process (Milvus Lite)."""

from __future__ import annotations

import tempfile

from synthral_sdk.testing import PluginConformance, VectorStoreConformance
from synthral_sdk.types import JSONObject

_FOLDER = tempfile.mkdtemp(prefix="milvus-conformance-")


class TestPluginConformance(PluginConformance):
    dist = "synthral-vector-milvus"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-vector-milvus"
    capability = "milvus"

    def store_config(self) -> JSONObject:
        return {"path": _FOLDER}

    def runner_config(self) -> JSONObject:
        # Milvus Lite locks its file to one process: the runner gets its own.
        return {"path": _FOLDER + "-runner"}
