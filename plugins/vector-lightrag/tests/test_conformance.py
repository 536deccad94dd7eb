"""The SDK's conformance suites, in process and through a real runner process, at a small scale.

Every record is a LightRAG document whose entities and relations the stand-in LLM extracts,
so the scale check writes 300 records (not 10,000: each one is an LLM call and a graph merge).
"""

from __future__ import annotations

import tempfile
from typing import cast

from standin import OpenAIStandIn, lightrag

from synthral_sdk.testing import PluginConformance, RunnerClient, VectorStoreConformance
from synthral_sdk.types import JSONObject, JSONValue

_FOLDER = tempfile.mkdtemp(prefix="lightrag-conformance-")
_LLM = OpenAIStandIn(dims=16, responder=lightrag).start()


class TestPluginConformance(PluginConformance):
    dist = "synthral-vector-lightrag"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-vector-lightrag"
    capability = "lightrag"
    scale = 300
    batch = 100

    def store_config(self) -> JSONObject:
        return {"path": _FOLDER, "llm_base_url": _LLM.base_url, "llm_model": "standin"}

    def runner_config(self) -> JSONObject:
        return {"path": _FOLDER + "-runner", "llm_base_url": _LLM.base_url, "llm_model": "standin"}

    def test_records_cross_the_process_boundary(self) -> None:
        """As the suite's check, with the loopback network policy the local stand-in LLM needs."""
        name = self.collection("runner")
        records = self._records(12)
        context: JSONObject = {"network": {"allowLoopback": True}}
        with RunnerClient(self.dist) as client:
            config = cast(JSONValue, self.runner_config())
            out = client.invoke(
                self.capability,
                {"collection": name, "records": cast(JSONValue, records)},
                operation="upsert",
                config=config,
                context=context,
            )
            assert out["upserted"] == 12
            vector = cast(JSONValue, records[2]["vector"])
            result = client.invoke(
                self.capability,
                {"collection": name, "vector": vector, "top_k": 3},
                operation="query",
                config=config,
                context=context,
            )
        assert self._ids(result)[0] == "r2"
