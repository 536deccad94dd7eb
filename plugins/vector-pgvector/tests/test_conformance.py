"""The SDK's conformance suites on a real PostgreSQL 16 with pgvector."""

from __future__ import annotations

from pg import dsn

from synthral_sdk.testing import PluginConformance, VectorStoreConformance
from synthral_sdk.types import JSONObject


class TestPluginConformance(PluginConformance):
    dist = "synthral-vector-pgvector"


class TestStoreConformance(VectorStoreConformance):
    dist = "synthral-vector-pgvector"
    capability = "pgvector"

    def store_config(self) -> JSONObject:
        return {"dsn": dsn()}
