"""The SDK's conformance suites against a local stand-in of Weaviate's REST and GraphQL API."""

from __future__ import annotations

import atexit
import functools

from weaviate_standin import WeaviateStandIn

from synthral_sdk.testing import PluginConformance, VectorStoreConformance
from synthral_sdk.types import JSONObject


@functools.cache
def server() -> WeaviateStandIn:
    standin = WeaviateStandIn().__enter__()
    atexit.register(standin.__exit__, None, None, None)
    return standin


class TestPluginConformance(PluginConformance):
    dist = "synthral-vector-weaviate"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-vector-weaviate"
    capability = "weaviate"

    def store_config(self) -> JSONObject:
        return {"url": server().url}

    def store_secrets(self) -> dict[str, str]:
        return {"api_key": "wv-test"}
