"""The SDK's conformance suites against a local stand-in of a Pinecone index (REST data plane)."""

from __future__ import annotations

import atexit
import functools

from pinecone_standin import PineconeStandIn

from synthral_sdk.testing import PluginConformance, VectorStoreConformance
from synthral_sdk.types import JSONObject


@functools.cache
def index() -> PineconeStandIn:
    standin = PineconeStandIn(dimension=16).__enter__()
    atexit.register(standin.__exit__, None, None, None)
    return standin


class TestPluginConformance(PluginConformance):
    dist = "synthral-vector-pinecone"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-vector-pinecone"
    capability = "pinecone"
    dims = 16

    def store_config(self) -> JSONObject:
        return {"index_host": index().host}

    def store_secrets(self) -> dict[str, str]:
        return {"api_key": "pc-test"}
