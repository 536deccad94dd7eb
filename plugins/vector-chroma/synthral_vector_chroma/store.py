"""The ``chroma`` vector store: ChromaDB's persistent client in a folder.

Chroma keeps flat metadata (strings, numbers, booleans). A record's scalar metadata fields
are stored as they are, for filtering; the whole metadata object also travels as JSON in a
reserved field, so nested values come back unchanged. Collections use cosine distance;
scores are ``1 - distance``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import chromadb
from chromadb.errors import NotFoundError
from pydantic import BaseModel, ConfigDict, Field

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
from synthral_sdk.errors import ConfigInvalid, InputInvalid

__all__ = ["ChromaConfig", "ChromaStore"]

_META = "_synthral_meta"
_DIMS = "synthral_dims"
_BATCH = 5000  # Chroma caps one write; stay well under it


class ChromaConfig(BaseModel):
    """Where the persistent client keeps its files."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None, description="The Chroma folder. Empty: 'chroma' in the plugin's data folder."
    )


def where(filter_: Mapping[str, object] | None) -> dict[str, Any] | None:
    """Chroma's ``where`` for an equality (any-of for lists) filter."""
    if not filter_:
        return None
    clauses: list[dict[str, Any]] = []
    for key, wanted in filter_.items():
        if key.startswith("_synthral"):
            raise InputInvalid(f"filter field {key!r} is reserved by the store", details={"field": f"filter.{key}"})
        clauses.append({key: {"$in": list(wanted)}} if isinstance(wanted, list) else {key: {"$eq": wanted}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _flat(metadata: Mapping[str, object]) -> dict[str, Any]:
    flat: dict[str, Any] = {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}
    flat[_META] = json.dumps(metadata, separators=(",", ":"))
    return flat


class _Clients:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self.write_lock = threading.Lock()

    def get(self, config: ChromaConfig, context: Context) -> Any:
        if config.path:
            folder = str(Path(config.path).expanduser().resolve())
        elif context.data_dir is not None:
            folder = str(Path(context.data_dir) / "chroma")
        else:
            raise ConfigInvalid(
                "config field 'path': set the folder Chroma keeps its files in", details={"field": "path"}
            )
        with self._lock:
            client = self._clients.get(folder)
            if client is None:
                Path(folder).mkdir(parents=True, exist_ok=True)
                settings = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
                client = self._clients[folder] = chromadb.PersistentClient(path=folder, settings=settings)
            return client


_clients = _Clients()


def _name(collection: str) -> str:
    return f"syn_{collection}"  # Chroma wants 3 characters at least


class ChromaStore(VectorStore[ChromaConfig]):
    """ChromaDB, embedded: lightweight, a folder per store."""

    name = "chroma"
    title = "ChromaDB (persistent)"
    features = ("filter", "ann")

    def _collection(self, config: ChromaConfig, context: Context, name: str) -> Any | None:
        try:
            return _clients.get(config, context).get_collection(_name(name), embedding_function=None)
        except NotFoundError:
            return None

    def upsert(self, request: UpsertRequest, config: ChromaConfig, context: Context) -> UpsertResult:
        """Create the collection on first write (cosine, its dimensions noted), then upsert in batches."""
        if not request.records:
            return UpsertResult(upserted=0)
        records = list({r.id: r for r in request.records}.values())
        with _clients.write_lock:
            collection = self._collection(config, context, request.collection)
            known = None if collection is None else int(collection.metadata[_DIMS])
            dims = self.check_vectors(request.collection, [r.vector for r in records], known)
            if collection is None:
                collection = _clients.get(config, context).create_collection(
                    _name(request.collection),
                    metadata={"hnsw:space": "cosine", _DIMS: dims},
                    embedding_function=None,
                )
            for start in range(0, len(records), _BATCH):
                batch = records[start : start + _BATCH]
                collection.upsert(
                    ids=[r.id for r in batch],
                    embeddings=[r.vector for r in batch],
                    documents=[r.text or "" for r in batch],
                    metadatas=[_flat(r.metadata) for r in batch],
                )
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: ChromaConfig, context: Context) -> QueryResult:
        """The nearest records matching the filter."""
        collection = self._collection(config, context, request.collection)
        if collection is None:
            return QueryResult(matches=[])
        dims = int(collection.metadata[_DIMS])
        if len(request.vector) != dims:
            raise self.dimension_error(request.collection, dims, len(request.vector))
        found = collection.query(
            query_embeddings=[request.vector],
            n_results=request.top_k,
            where=where(request.filter),
            include=["documents", "metadatas", "distances"],
        )
        matches = []
        for record_id, text, meta, distance in zip(
            found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0], strict=True
        ):
            metadata = json.loads(meta[_META]) if meta and _META in meta else dict(meta or {})
            matches.append(QueryMatch(id=record_id, score=1.0 - float(distance), text=text, metadata=metadata))
        return QueryResult(matches=matches)

    def delete(self, request: DeleteRequest, config: ChromaConfig, context: Context) -> DeleteResult:
        """Delete by ids and/or filter; the count is taken before deleting."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        collection = self._collection(config, context, request.collection)
        if collection is None or request.ids == []:
            return DeleteResult(deleted=0)
        with _clients.write_lock:
            found = collection.get(ids=request.ids, where=where(request.filter), include=[])
            ids = list(found["ids"])
            for start in range(0, len(ids), _BATCH):
                collection.delete(ids=ids[start : start + _BATCH])
        return DeleteResult(deleted=len(ids))

    def count(self, request: CountRequest, config: ChromaConfig, context: Context) -> CountResult:
        """Records in the collection (matching the filter)."""
        collection = self._collection(config, context, request.collection)
        if collection is None:
            return CountResult(count=0)
        dims = int(collection.metadata[_DIMS])
        if not request.filter:
            return CountResult(count=int(collection.count()), dimensions=dims)
        return CountResult(count=len(collection.get(where=where(request.filter), include=[])["ids"]), dimensions=dims)
