"""The ``milvus`` vector store: Milvus Lite embedded in a file, or a Milvus server by URI.

Each collection has four fields: ``id`` (the record's id), ``vector`` (cosine, AUTOINDEX),
``text`` and ``metadata`` (JSON, filtered with ``metadata["key"] == value``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymilvus import DataType, MilvusClient, MilvusException

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

__all__ = ["MilvusConfig", "MilvusStore", "expression"]

_MAX_TEXT = 65_535
_BATCH = 2_000


class MilvusConfig(BaseModel):
    """Embedded file or server."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None, description="Milvus Lite: the folder of its database file. Empty: 'milvus' in the data folder."
    )
    uri: str | None = Field(
        default=None, description="A Milvus server, e.g. http://milvus:19530 (its token is the secret 'token')."
    )
    timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds per request to a server.")


def _literal(value: object) -> str:
    return json.dumps(value)


def expression(where: Mapping[str, object] | None) -> str:
    """A Milvus boolean expression for an equality (any-of for lists) filter on the JSON metadata."""
    parts = []
    for key, wanted in (where or {}).items():
        field = f"metadata[{json.dumps(key)}]"
        if isinstance(wanted, list):
            if not wanted:
                return "false"
            parts.append("(" + " or ".join(f"{field} == {_literal(v)}" for v in wanted) + ")")
        else:
            parts.append(f"{field} == {_literal(wanted)}")
    return " and ".join(parts)


class _Clients:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, MilvusClient] = {}
        self.write_lock = threading.Lock()

    def get(self, config: MilvusConfig, context: Context) -> MilvusClient:
        if config.uri:
            key = config.uri
        elif config.path:
            key = str(Path(config.path).expanduser().resolve() / "milvus.db")
        elif context.data_dir is not None:
            key = str(Path(context.data_dir) / "milvus" / "milvus.db")
        else:
            raise ConfigInvalid(
                "config field 'path': set 'path' (Milvus Lite) or 'uri' (a server)", details={"field": "path"}
            )
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if not config.uri:
                    Path(key).parent.mkdir(parents=True, exist_ok=True)
                client = MilvusClient(uri=key, token=context.secrets.get("token", ""), timeout=config.timeout)
                self._clients[key] = client
            return client


_clients = _Clients()


def _translate(exc: MilvusException, config: MilvusConfig) -> Exception:
    where = config.uri or "Milvus Lite"
    if exc.code in {1, 2}:  # unexpected / connection failures
        return RetryableError(f"{where} failed: {exc.message}")
    return NonRetryableError(f"{where} refused the request: {exc.message}")


class MilvusStore(VectorStore[MilvusConfig]):
    """Milvus: Lite in a file for one machine, a server (or cluster) for large datasets."""

    name = "milvus"
    title = "Milvus"
    features = ("filter", "ann")
    secrets = ("token",)

    def _dims(self, client: MilvusClient, name: str) -> int | None:
        if not client.has_collection(name):
            return None
        for field in client.describe_collection(name)["fields"]:
            if field["name"] == "vector":
                return int(field["params"]["dim"])
        return None

    def _create(self, client: MilvusClient, name: str, dims: int) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dims)
        schema.add_field("text", DataType.VARCHAR, max_length=_MAX_TEXT)
        schema.add_field("metadata", DataType.JSON)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="COSINE")
        client.create_collection(name, schema=schema, index_params=index)

    def _count(self, client: MilvusClient, name: str, filter_expression: str) -> int:
        rows = client.query(name, filter=filter_expression, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _run(self, config: MilvusConfig, action: Any) -> Any:
        try:
            return action()
        except MilvusException as exc:
            raise _translate(exc, config) from None

    def upsert(self, request: UpsertRequest, config: MilvusConfig, context: Context) -> UpsertResult:
        """Create the collection on first write, then upsert in batches."""
        if not request.records:
            return UpsertResult(upserted=0)
        client = _clients.get(config, context)
        records = list({r.id: r for r in request.records}.values())
        for r in records:
            if r.text is not None and len(r.text.encode()) > _MAX_TEXT:
                raise InputInvalid(
                    f"record {r.id!r}: its text is over {_MAX_TEXT} bytes, Milvus's limit; "
                    "split it into smaller chunks",
                    details={"id": r.id},
                )

        def write() -> None:
            with _clients.write_lock:
                dims = self.check_vectors(
                    request.collection, [r.vector for r in records], self._dims(client, request.collection)
                )
                if not client.has_collection(request.collection):
                    self._create(client, request.collection, dims)
                for start in range(0, len(records), _BATCH):
                    rows = [
                        {"id": r.id, "vector": r.vector, "text": r.text or "", "metadata": r.metadata}
                        for r in records[start : start + _BATCH]
                    ]
                    client.upsert(request.collection, rows)

        self._run(config, write)
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: MilvusConfig, context: Context) -> QueryResult:
        """The nearest records matching the filter; COSINE scores are similarities."""
        client = _clients.get(config, context)

        def search() -> QueryResult:
            dims = self._dims(client, request.collection)
            if dims is None:
                return QueryResult(matches=[])
            if len(request.vector) != dims:
                raise self.dimension_error(request.collection, dims, len(request.vector))
            found = client.search(
                request.collection,
                data=[request.vector],
                limit=request.top_k,
                filter=expression(request.filter),
                output_fields=["text", "metadata"],
            )
            return QueryResult(
                matches=[
                    QueryMatch(
                        id=str(hit["id"]),
                        score=float(hit["distance"]),
                        text=hit["entity"].get("text"),
                        metadata=hit["entity"].get("metadata") or {},
                    )
                    for hit in found[0]
                ]
            )

        result: QueryResult = self._run(config, search)
        return result

    def delete(self, request: DeleteRequest, config: MilvusConfig, context: Context) -> DeleteResult:
        """Delete by ids and/or filter; the number is counted before and after."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        client = _clients.get(config, context)

        def remove() -> int:
            if not client.has_collection(request.collection) or request.ids == []:
                return 0
            parts = [expression(request.filter)] if request.filter else []
            if request.ids is not None:
                parts.append(f"id in {json.dumps(request.ids)}")
            clause = " and ".join(p for p in parts if p) or 'id != ""'
            with _clients.write_lock:
                before = self._count(client, request.collection, "")
                client.delete(request.collection, filter=clause)
                return before - self._count(client, request.collection, "")

        return DeleteResult(deleted=self._run(config, remove))

    def count(self, request: CountRequest, config: MilvusConfig, context: Context) -> CountResult:
        """Records in the collection (matching the filter)."""
        client = _clients.get(config, context)

        def tally() -> CountResult:
            dims = self._dims(client, request.collection)
            if dims is None:
                return CountResult(count=0)
            return CountResult(
                count=self._count(client, request.collection, expression(request.filter)), dimensions=dims
            )

        result: CountResult = self._run(config, tally)
        return result
