"""The ``pinecone`` vector store: a Pinecone index through its REST data plane, a namespace per collection.

A Pinecone index has one dimension and one metric, chosen when it is made in Pinecone's
console (use cosine); collections are namespaces in it. Pinecone keeps flat metadata
(strings, numbers, booleans, lists of strings): scalar fields are stored as they are, for
filters, and the whole metadata object and the text travel as JSON in reserved fields.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from synthral_sdk import (
    Context,
    CountRequest,
    CountResult,
    DeleteRequest,
    DeleteResult,
    QueryMatch,
    QueryRequest,
    QueryResult,
    UpsertRequest,
    UpsertResult,
    VectorStore,
)
from synthral_sdk.errors import ConfigInvalid, InputInvalid, NonRetryableError, RetryableError

__all__ = ["API_VERSION", "PineconeConfig", "PineconeStore", "pinecone_filter"]

logging.getLogger("httpx").setLevel(logging.WARNING)

API_VERSION = "2025-01"
_META = "_synthral_meta"
_TEXT = "_synthral_text"
_BATCH = 100  # Pinecone's advice: 100 vectors or 2 MB per upsert
_MAX_TOP_K = 10_000


class PineconeConfig(BaseModel):
    """The index."""

    model_config = ConfigDict(extra="forbid")

    index_host: HttpUrl = Field(
        description="The index's host from the Pinecone console, e.g. https://docs-abc123.svc.aped-4627-b74a.pinecone.io"
    )
    timeout: float = Field(default=30.0, gt=0, le=300)


def pinecone_filter(where: Mapping[str, object] | None) -> dict[str, Any] | None:
    """Pinecone's filter for an equality (any-of for lists) filter."""
    if not where:
        return None
    clauses: list[dict[str, Any]] = []
    for key, wanted in where.items():
        if key.startswith("_synthral"):
            raise InputInvalid(f"filter field {key!r} is reserved by the store", details={"field": f"filter.{key}"})
        clauses.append({key: {"$in": list(wanted)}} if isinstance(wanted, list) else {key: {"$eq": wanted}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _flat(metadata: Mapping[str, object], text: str | None) -> dict[str, Any]:
    flat: dict[str, Any] = {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}
    flat[_META] = json.dumps(metadata, separators=(",", ":"))
    if text is not None:
        flat[_TEXT] = text
    return flat


class _Index:
    """One call's connection to the index."""

    def __init__(self, config: PineconeConfig, context: Context) -> None:
        key = context.secrets.get("api_key")
        if not key:
            raise ConfigInvalid(
                "grant the secret 'api_key' (the Pinecone project's API key)", details={"secret": "api_key"}
            )
        self.host = str(config.index_host).rstrip("/")
        self.client = context.http_client_sync(
            base_url=self.host,
            timeout=config.timeout,
            headers={"Api-Key": key, "X-Pinecone-API-Version": API_VERSION},
        )

    def __enter__(self) -> _Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, params: Any = None) -> dict[str, Any]:
        try:
            response = self.client.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"Pinecone at {self.host} cannot be reached ({type(exc).__name__}); check index_host"
            ) from None
        if response.status_code in {401, 403}:
            raise NonRetryableError("Pinecone refused the API key; check the granted secret 'api_key'")
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"Pinecone answered {response.status_code}; try again later")
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message"))
            except ValueError:
                message = response.text[:300]
            raise NonRetryableError(f"Pinecone refused the request ({response.status_code}): {message}")
        try:
            data = response.json() if response.content else {}
        except ValueError:
            raise NonRetryableError(f"{self.host} did not answer like a Pinecone index; check index_host") from None
        return data if isinstance(data, dict) else {}

    def stats(self) -> dict[str, Any]:
        return self.call("POST", "/describe_index_stats", {})

    def ids_matching(self, namespace: str, dims: int, where: dict[str, Any] | None) -> list[str]:
        """Ids matching a filter (at most 10,000: Pinecone's top_k limit)."""
        probe = [1.0] + [0.0] * (dims - 1)
        found = self.call(
            "POST",
            "/query",
            {
                "namespace": namespace,
                "vector": probe,
                "topK": _MAX_TOP_K,
                "filter": where or {},
                "includeMetadata": False,
            },
        )
        return [str(m["id"]) for m in found.get("matches", [])]


class PineconeStore(VectorStore[PineconeConfig]):
    """Pinecone, hosted: give the index's host and grant its API key."""

    name = "pinecone"
    title = "Pinecone"
    features = ("filter", "ann", "remote")
    secrets = ("api_key",)

    @staticmethod
    def _namespace_count(stats: dict[str, Any], namespace: str) -> int:
        return int(stats.get("namespaces", {}).get(namespace, {}).get("vectorCount", 0))

    def upsert(self, request: UpsertRequest, config: PineconeConfig, context: Context) -> UpsertResult:
        """Upsert in batches of 100 into the collection's namespace."""
        if not request.records:
            return UpsertResult(upserted=0)
        records = list({r.id: r for r in request.records}.values())
        with _Index(config, context) as index:
            self.check_vectors(request.collection, [r.vector for r in records], int(index.stats()["dimension"]))
            for start in range(0, len(records), _BATCH):
                vectors = [
                    {"id": r.id, "values": r.vector, "metadata": _flat(r.metadata, r.text)}
                    for r in records[start : start + _BATCH]
                ]
                index.call("POST", "/vectors/upsert", {"namespace": request.collection, "vectors": vectors})
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: PineconeConfig, context: Context) -> QueryResult:
        """The nearest records of the namespace matching the filter."""
        with _Index(config, context) as index:
            stats = index.stats()
            dims = int(stats["dimension"])
            if len(request.vector) != dims:
                raise self.dimension_error(request.collection, dims, len(request.vector))
            if self._namespace_count(stats, request.collection) == 0:
                return QueryResult(matches=[])
            body: dict[str, Any] = {
                "namespace": request.collection,
                "vector": request.vector,
                "topK": request.top_k,
                "includeMetadata": True,
                "includeValues": False,
            }
            where = pinecone_filter(request.filter)
            if where:
                body["filter"] = where
            found = index.call("POST", "/query", body)
        matches = []
        for match in found.get("matches", []):
            meta = dict(match.get("metadata") or {})
            text = meta.get(_TEXT)
            metadata = json.loads(meta[_META]) if _META in meta else {k: v for k, v in meta.items() if k != _TEXT}
            matches.append(QueryMatch(id=str(match["id"]), score=float(match["score"]), text=text, metadata=metadata))
        return QueryResult(matches=matches)

    def delete(self, request: DeleteRequest, config: PineconeConfig, context: Context) -> DeleteResult:
        """Delete by ids and/or filter; the ids are found first, so the count is exact."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        with _Index(config, context) as index:
            stats = index.stats()
            if self._namespace_count(stats, request.collection) == 0 or request.ids == []:
                return DeleteResult(deleted=0)
            if request.filter is not None:
                targets = index.ids_matching(
                    request.collection, int(stats["dimension"]), pinecone_filter(request.filter)
                )
                if request.ids is not None:
                    wanted = set(request.ids)
                    targets = [i for i in targets if i in wanted]
            else:
                assert request.ids is not None
                targets = []
                for start in range(0, len(request.ids), 1000):
                    params = [("ids", i) for i in request.ids[start : start + 1000]] + [
                        ("namespace", request.collection)
                    ]
                    targets += list(index.call("GET", "/vectors/fetch", params=params).get("vectors", {}))
            for start in range(0, len(targets), 1000):
                index.call(
                    "POST", "/vectors/delete", {"namespace": request.collection, "ids": targets[start : start + 1000]}
                )
        return DeleteResult(deleted=len(targets))

    def count(self, request: CountRequest, config: PineconeConfig, context: Context) -> CountResult:
        """Vectors in the namespace; with a filter, counted by a query (up to 10,000)."""
        with _Index(config, context) as index:
            stats = index.stats()
            dims = int(stats["dimension"])
            total = self._namespace_count(stats, request.collection)
            if total == 0:
                return CountResult(count=0)
            if not request.filter:
                return CountResult(count=total, dimensions=dims)
            found = index.ids_matching(request.collection, dims, pinecone_filter(request.filter))
            return CountResult(count=len(found), dimensions=dims)
