"""The SDK's conformance suites, in process and through a real runner process."""

from __future__ import annotations

import tempfile

from synthral_sdk.testing import PluginConformance, VectorStoreConformance
from synthral_sdk.types import JSONObject

_FOLDER = tempfile.mkdtemp(prefix="mem0-conformance-")


class TestPluginConformance(PluginConformance):
    dist = "synthral-memory-mem0"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-memory-mem0"
    capability = "mem0"

    def store_config(self) -> JSONObject:
        return {"path": _FOLDER}

    def runner_config(self) -> JSONObject:
        # Mem0 keeps a local Qdrant, which locks its folder to one process: the runner gets its own.
        return {"path": _FOLDER + "-runner"}
