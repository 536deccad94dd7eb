"""The ``qdrant`` vector store: qdrant-client in local mode (a folder) or against a Qdrant server.

Record ids become UUIDv5 point ids (Qdrant takes only UUIDs and integers); the record's own
id, text and metadata travel in the payload. Collections use cosine distance, whose score
Qdrant reports as the similarity itself.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

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

__all__ = ["QdrantConfig", "QdrantStore"]

_ID = "_synthral_id"
_TEXT = "_synthral_text"
_NAMESPACE = uuid.UUID("6f1b8a1e-3c2d-4e55-9b0a-5a7c1d2e3f40")


class QdrantConfig(BaseModel):
    """Local folder or server."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="Local mode: the folder. Empty: 'qdrant' in the data folder.")
    url: str | None = Field(
        default=None, description="A Qdrant server, e.g. http://qdrant:6333 (the API key is the secret 'api_key')."
    )
    timeout: int = Field(default=30, ge=1, le=600, description="Seconds per request to a server.")


def point_id(record_id: str) -> str:
    """The Qdrant point id of a record id."""
    return str(uuid.uuid5(_NAMESPACE, record_id))


def query_filter(where: Mapping[str, object] | None) -> models.Filter | None:
    """Equality (and any-of) conditions on payload fields."""
    if not where:
        return None
    conditions: list[Any] = []
    for key, wanted in where.items():
        if key.startswith("_synthral"):
            raise InputInvalid(f"filter field {key!r} is reserved by the store", details={"field": f"filter.{key}"})
        if isinstance(wanted, list):
            if any(isinstance(v, float) and not isinstance(v, bool) for v in wanted):
                conditions.append(
                    models.Filter(
                        should=[models.FieldCondition(key=key, range=models.Range(gte=v, lte=v)) for v in wanted]
                    )
                )
            else:
                conditions.append(models.FieldCondition(key=key, match=models.MatchAny(any=list(wanted))))
        elif isinstance(wanted, float):
            conditions.append(models.FieldCondition(key=key, range=models.Range(gte=wanted, lte=wanted)))
        else:
            conditions.append(models.FieldCondition(key=key, match=models.MatchValue(value=wanted)))
    return models.Filter(must=conditions)


class _Clients:
    """One client per folder or server: local mode locks its folder to one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], QdrantClient] = {}
        self.write_lock = threading.Lock()

    def get(self, config: QdrantConfig, context: Context) -> QdrantClient:
        if config.url:
            key = ("url", config.url)
        elif config.path:
            key = ("path", str(Path(config.path).expanduser().resolve()))
        elif context.data_dir is not None:
            key = ("path", str(Path(context.data_dir) / "qdrant"))
        else:
            raise ConfigInvalid(
                "config field 'path': set 'path' (local mode) or 'url' (a server)", details={"field": "path"}
            )
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if key[0] == "url":
                    # No background version probe: its failure is a warning from a thread nobody reads;
                    # an unreachable server is reported by the call that needs it.
                    client = QdrantClient(
                        url=key[1],
                        api_key=context.secrets.get("api_key"),
                        timeout=config.timeout,
                        check_compatibility=False,
                    )
                else:
                    Path(key[1]).mkdir(parents=True, exist_ok=True)
                    client = QdrantClient(path=key[1])
                self._clients[key] = client
            return client


_clients = _Clients()


def _server_errors(exc: Exception, config: QdrantConfig) -> Exception:
    if isinstance(exc, ResponseHandlingException):
        return RetryableError(f"the Qdrant server at {config.url} cannot be reached: {exc}; check 'url'")
    if isinstance(exc, UnexpectedResponse):
        if exc.status_code in {401, 403}:
            return NonRetryableError("the Qdrant server refused the API key; check the granted secret 'api_key'")
        if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code == 429):
            return RetryableError(f"the Qdrant server answered {exc.status_code}")
        return NonRetryableError(f"the Qdrant server refused the request ({exc.status_code}): {exc.content[:300]!r}")
    return exc


class QdrantStore(VectorStore[QdrantConfig]):
    """Qdrant: local mode for one machine, a server for teams."""

    name = "qdrant"
    title = "Qdrant"
    features = ("filter", "ann")
    secrets = ("api_key",)

    def _client(self, config: QdrantConfig, context: Context) -> QdrantClient:
        return _clients.get(config, context)

    def _dims(self, client: QdrantClient, name: str) -> int | None:
        if not client.collection_exists(name):
            return None
        params = client.get_collection(name).config.params.vectors
        assert isinstance(params, models.VectorParams)
        return int(params.size)

    def _call(self, config: QdrantConfig, action: Any) -> Any:
        try:
            return action()
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise _server_errors(exc, config) from None

    def upsert(self, request: UpsertRequest, config: QdrantConfig, context: Context) -> UpsertResult:
        """Create the collection on first write (cosine, the records' size), then upsert the points."""
        if not request.records:
            return UpsertResult(upserted=0)
        client = self._client(config, context)
        name = request.collection

        def write() -> None:
            with _clients.write_lock:
                dims = self.check_vectors(name, [r.vector for r in request.records], self._dims(client, name))
                if not client.collection_exists(name):
                    client.create_collection(
                        name, vectors_config=models.VectorParams(size=dims, distance=models.Distance.COSINE)
                    )
            points = [
                models.PointStruct(id=point_id(r.id), vector=r.vector, payload={**r.metadata, _ID: r.id, _TEXT: r.text})
                for r in request.records
            ]
            client.upsert(name, points=points, wait=True)

        self._call(config, write)
        return UpsertResult(upserted=len({r.id for r in request.records}))

    def query(self, request: QueryRequest, config: QdrantConfig, context: Context) -> QueryResult:
        """The nearest points matching the filter."""
        client = self._client(config, context)

        def search() -> QueryResult:
            dims = self._dims(client, request.collection)
            if dims is None:
                return QueryResult(matches=[])
            if len(request.vector) != dims:
                raise self.dimension_error(request.collection, dims, len(request.vector))
            found = client.query_points(
                request.collection,
                query=request.vector,
                query_filter=query_filter(request.filter),
                limit=request.top_k,
                with_payload=True,
            )
            matches = []
            for point in found.points:
                payload = dict(point.payload or {})
                record_id = str(payload.pop(_ID, point.id))
                text = payload.pop(_TEXT, None)
                matches.append(QueryMatch(id=record_id, score=float(point.score), text=text, metadata=payload))
            return QueryResult(matches=matches)

        result: QueryResult = self._call(config, search)
        return result

    def delete(self, request: DeleteRequest, config: QdrantConfig, context: Context) -> DeleteResult:
        """Delete by ids and/or filter; the count is taken before deleting."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        client = self._client(config, context)

        def remove() -> int:
            if not client.collection_exists(request.collection):
                return 0
            conditions = query_filter(request.filter) or models.Filter(must=[])
            if request.ids is not None:
                if not request.ids:
                    return 0
                conditions.must = [
                    *(conditions.must or []),
                    models.HasIdCondition(has_id=[point_id(i) for i in request.ids]),
                ]  # type: ignore[list-item]
            with _clients.write_lock:
                count = client.count(request.collection, count_filter=conditions, exact=True).count
                if count:
                    client.delete(
                        request.collection, points_selector=models.FilterSelector(filter=conditions), wait=True
                    )
            return int(count)

        return DeleteResult(deleted=self._call(config, remove))

    def count(self, request: CountRequest, config: QdrantConfig, context: Context) -> CountResult:
        """Points in the collection (matching the filter)."""
        client = self._client(config, context)

        def tally() -> CountResult:
            dims = self._dims(client, request.collection)
            if dims is None:
                return CountResult(count=0)
            found = client.count(request.collection, count_filter=query_filter(request.filter), exact=True)
            return CountResult(count=int(found.count), dimensions=dims)

        result: CountResult = self._call(config, tally)
        return result
