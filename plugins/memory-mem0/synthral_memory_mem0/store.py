"""The ``mem0`` store: Mem0's long-term memory with its local backends (Qdrant local mode, SQLite history).

Each collection is a Mem0 memory of its own (a folder with its Qdrant collection and its
history database). The host's vectors are handed to Mem0 through its LangChain embedder
provider, so Mem0 stores exactly what the index's embedder produced. With ``infer: false``
(the default) a record is one memory; with ``infer: true`` Mem0 asks the configured LLM
(an OpenAI-compatible endpoint) to extract facts from the text, and each fact is a memory
carrying the record's id. Searches go to Mem0's vector store directly, so ``top_k`` and the
filters hold whatever the scores (Mem0's own search drops scores below its threshold).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Before Mem0 is imported: no telemetry, its state in a folder we choose.
os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.embeddings import Embeddings
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
from synthral_sdk.errors import ConfigInvalid, InputInvalid
from synthral_sdk.stores import Collections

__all__ = ["Mem0Config", "Mem0Store", "mem0_filter"]

_USER = "synthral"
_ID = "synthral_id"
_META = "synthral_meta"
_RESERVED = frozenset(
    {"data", "hash", "created_at", "updated_at", "user_id", "agent_id", "run_id", "actor_id", "role", "text_lemmatized"}
)
_NO_TEXT = "\x00synthral-no-text:"


class Mem0Config(BaseModel):
    """Where the memories live and whether an LLM extracts facts."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="The folder of the memories. Empty: 'mem0' in the data folder.")
    infer: bool = Field(
        default=False, description="Let the LLM extract facts from each text (each fact a memory); needs llm_base_url."
    )
    llm_base_url: HttpUrl | None = Field(default=None, description="An OpenAI-compatible endpoint for 'infer'.")
    llm_model: str = Field(default="gpt-4o-mini", description="The model 'infer' asks.")


class _Vectors(Embeddings):
    """Mem0's embedder: the vector the host sent for a text (set just before each call)."""

    def __init__(self) -> None:
        self.table: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        try:
            return self.table[text]
        except KeyError:
            raise InputInvalid(
                "Mem0 asked to embed a text the host did not send a vector for; with 'infer' on, the LLM's facts "
                "are embedded with the record's own vector"
            ) from None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


class _Memory:
    """One collection's Mem0 memory, its dimensions and its pass-through embedder."""

    def __init__(self, folder: Path, name: str, dims: int, config: Mem0Config, api_key: str | None) -> None:
        from mem0 import Memory  # noqa: PLC0415 -- heavy; loaded on first use

        self.dims = dims
        self.vectors = _Vectors()
        llm: dict[str, Any] = {"model": config.llm_model, "api_key": api_key or "unused"}
        if config.llm_base_url is not None:
            llm["openai_base_url"] = str(config.llm_base_url).rstrip("/")
        self.memory = Memory.from_config(
            {
                "vector_store": {
                    "provider": "qdrant",
                    "config": {
                        "collection_name": name,
                        "path": str(folder / "qdrant"),
                        "embedding_model_dims": dims,
                        "on_disk": True,
                    },
                },
                "embedder": {"provider": "langchain", "config": {"model": self.vectors}},
                "llm": {"provider": "openai", "config": llm},
                "history_db_path": str(folder / "history.db"),
            }
        )
        self.store = self.memory.vector_store


class _Memories(Collections["_Memory"]):
    def __init__(self) -> None:
        super().__init__("mem0", "Mem0 keeps its memories")

    def memory(self, config: Mem0Config, context: Context, collection: str, dims: int | None = None) -> _Memory | None:
        os.environ.setdefault("MEM0_DIR", str(self.root(config.path, context) / ".mem0"))

        def opener(folder: Path, size: int) -> _Memory:
            return _Memory(folder, collection, size, config, context.secrets.get("llm_api_key"))

        return self.get(config.path, context, collection, dims, opener)


_memories = _Memories()


def mem0_filter(where: Mapping[str, object] | None) -> dict[str, Any]:
    """Mem0's filter: the memory's owner plus equality (``in`` for lists) on metadata fields."""
    found: dict[str, Any] = {"user_id": _USER}
    for key, wanted in (where or {}).items():
        if key in _RESERVED or key.startswith("synthral_"):
            raise InputInvalid(f"filter field {key!r} is reserved by Mem0", details={"field": f"filter.{key}"})
        found[key] = {"in": list(wanted)} if isinstance(wanted, list) else wanted
    return found


def _payload_metadata(record_id: str, metadata: Mapping[str, object]) -> dict[str, Any]:
    taken = sorted(_RESERVED & set(metadata))
    if taken:
        raise InputInvalid(f"record {record_id!r}: metadata keys {taken} are Mem0's own; rename them")
    flat: dict[str, Any] = {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}
    flat[_ID] = record_id
    flat[_META] = json.dumps(metadata, separators=(",", ":"))
    return flat


def _points(memory: _Memory, where: dict[str, Any]) -> list[Any]:
    points, _ = memory.store.list(filters=where, top_k=10_000_000)
    return list(points)


class Mem0Store(VectorStore[Mem0Config]):
    """Mem0 long-term memory, local: records (or the facts an LLM takes from them) as memories."""

    name = "mem0"
    title = "Mem0 memory (local)"
    features = ("filter", "memory")
    secrets = ("llm_api_key",)

    def upsert(self, request: UpsertRequest, config: Mem0Config, context: Context) -> UpsertResult:
        """Forget the memories of each record id, then remember the record (or its facts)."""
        if not request.records:
            return UpsertResult(upserted=0)
        if config.infer and config.llm_base_url is None:
            raise ConfigInvalid(
                "'infer' needs 'llm_base_url' (an OpenAI-compatible endpoint)", details={"field": "infer"}
            )
        records = list({r.id: r for r in request.records}.values())
        with _memories.lock:
            existing = _memories.memory(config, context, request.collection)
            dims = self.check_vectors(
                request.collection, [r.vector for r in records], None if existing is None else existing.dims
            )
            memory = existing or _memories.memory(config, context, request.collection, dims)
            assert memory is not None
            old = _points(memory, mem0_filter(None) | {_ID: {"in": [r.id for r in records]}})
            for point in old:
                memory.memory.delete(str(point.id))
            for record in records:
                text = record.text if record.text else _NO_TEXT + record.id
                memory.vectors.table = _EveryText(record.vector) if config.infer else {text: record.vector}
                memory.memory.add(
                    text, user_id=_USER, metadata=_payload_metadata(record.id, record.metadata), infer=config.infer
                )
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: Mem0Config, context: Context) -> QueryResult:
        """The nearest memories matching the filter, straight from Mem0's vector store."""
        memory = _memories.memory(config, context, request.collection)
        if memory is None:
            return QueryResult(matches=[])
        if len(request.vector) != memory.dims:
            raise self.dimension_error(request.collection, memory.dims, len(request.vector))
        with _memories.lock:
            points = memory.store.search(
                query=request.text or "",
                vectors=request.vector,
                top_k=request.top_k,
                filters=mem0_filter(request.filter),
            )
        matches = []
        for point in points:
            payload = dict(point.payload or {})
            data = str(payload.get("data", ""))
            meta = json.loads(payload[_META]) if _META in payload else {}
            matches.append(
                QueryMatch(
                    id=str(payload.get(_ID, point.id)),
                    score=float(point.score),
                    text=None if data.startswith(_NO_TEXT) else data,
                    metadata=meta,
                )
            )
        return QueryResult(matches=matches)

    def delete(self, request: DeleteRequest, config: Mem0Config, context: Context) -> DeleteResult:
        """Forget the memories of the ids and/or matching the filter (counted in records)."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        memory = _memories.memory(config, context, request.collection)
        if memory is None or request.ids == []:
            return DeleteResult(deleted=0)
        where = mem0_filter(request.filter)
        if request.ids is not None:
            where[_ID] = {"in": list(request.ids)}
        with _memories.lock:
            points = _points(memory, where)
            for point in points:
                memory.memory.delete(str(point.id))
        return DeleteResult(deleted=len({(p.payload or {}).get(_ID, p.id) for p in points}))

    def count(self, request: CountRequest, config: Mem0Config, context: Context) -> CountResult:
        """Records remembered (matching the filter)."""
        memory = _memories.memory(config, context, request.collection)
        if memory is None:
            return CountResult(count=0)
        with _memories.lock:
            points = _points(memory, mem0_filter(request.filter))
        return CountResult(count=len({(p.payload or {}).get(_ID, p.id) for p in points}), dimensions=memory.dims)


class _EveryText(dict[str, list[float]]):
    """With inference, every fact the LLM takes from a record is embedded with the record's vector."""

    def __init__(self, vector: list[float]) -> None:
        super().__init__()
        self.vector = vector

    def __missing__(self, key: str) -> list[float]:
        return self.vector
