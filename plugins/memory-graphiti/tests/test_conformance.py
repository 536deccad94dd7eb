"""The SDK's conformance suites, in process and through a real runner process, at a small scale.

Every record is a Graphiti episode whose entities and facts the stand-in LLM extracts and
Graphiti resolves against the graph, so the scale check writes 100 records, not 10,000 (each one is
several LLM calls and graph queries).
"""

from __future__ import annotations

import tempfile
from typing import cast

from standin import OpenAIStandIn, graphiti

from synthral_sdk.testing import PluginConformance, RunnerClient, VectorStoreConformance
from synthral_sdk.types import JSONObject, JSONValue

_FOLDER = tempfile.mkdtemp(prefix="graphiti-conformance-")
_LLM = OpenAIStandIn(dims=16, responder=graphiti).start()


class TestPluginConformance(PluginConformance):
    dist = "synthral-memory-graphiti"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-memory-graphiti"
    capability = "graphiti"
    scale = 100
    batch = 50

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
