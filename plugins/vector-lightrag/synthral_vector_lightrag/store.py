"""The ``lightrag`` store: LightRAG's knowledge graph and vectors over the index's chunks.

Each collection is a LightRAG workspace of its own in a folder (by default
``lightrag/<collection>`` in the plugin's data folder): LightRAG's key-value files, its
NanoVectorDB vectors and its NetworkX graph, plus ``records.sqlite`` with each record's
metadata (LightRAG has no metadata filters). A record is one LightRAG document whose only
chunk is the record's text, named by the record's id.

On upsert LightRAG asks the configured LLM (an OpenAI-compatible endpoint) for the
entities and relations of each chunk and builds its graph. The chunk's vector is the one
the host sent (the index's embedder); the texts LightRAG makes itself (entity and relation
descriptions, query keywords) are embedded by the configured embeddings endpoint, which
must produce vectors of the collection's size.

A query with only a vector ranks the chunks by cosine similarity. A query that also
carries its text asks LightRAG's graph retrieval (``hybrid``: the LLM picks the query's
keywords, the graph gives the nearest entities and relations and the chunks they came
from) and fuses those chunks with the vector ranking by reciprocal rank, which is what
LightRAG's own ``mix`` mode does.

LightRAG is asynchronous and binds its locks to an event loop; every collection runs on
one loop thread owned by the store, whatever loop the call arrives on.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

# Before LightRAG is imported: nothing downloads a tokenizer or phones home.
os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.devnull)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
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
from synthral_sdk.errors import ConfigInvalid, InputInvalid, RetryableError
from synthral_sdk.http import async_client
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.stores import Collections

__all__ = ["LightRAGConfig", "LightRAGStore", "matches_filter"]

T = TypeVar("T")
logging.getLogger("lightrag").setLevel(logging.WARNING)
_RRF_K = 60


class LightRAGConfig(BaseModel):
    """Where the graph lives and the endpoints LightRAG asks."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None, description="The folder of the graphs. Empty: 'lightrag' in the data folder."
    )
    llm_base_url: HttpUrl = Field(
        description="OpenAI-compatible endpoint (the LLM provider's base URL, e.g. http://127.0.0.1:11434/v1) that "
        "extracts entities and relations and the keywords of a query. The host fills in the platform's "
        "retrieval LLM (rag.llm_base_url) when the index's config gives none.",
    )
    llm_model: str = Field(default="gpt-4o-mini", min_length=1, description="The model LightRAG asks.")
    embed_base_url: HttpUrl | None = Field(
        default=None,
        description="OpenAI-compatible embeddings endpoint for the texts LightRAG makes itself (entities, relations, "
        "keywords); it must give vectors of the index's size. Empty: the LLM endpoint.",
    )
    embed_model: str = Field(default="text-embedding-3-small", min_length=1, description="The embedding model.")
    timeout_s: float = Field(default=120.0, gt=0, le=600, description="Seconds one LLM or embedding request may take.")


class _ByteTokenizer:
    """LightRAG's tokenizer: UTF-8 bytes (its default, tiktoken, downloads its encodings)."""

    def encode(self, content: str) -> list[int]:
        return list(content.encode("utf-8"))

    def decode(self, tokens: list[int]) -> str:
        return bytes(tokens).decode("utf-8", errors="ignore")


class _Endpoints:
    """The LLM and embeddings requests of the call being served (set before each operation)."""

    def __init__(self) -> None:
        self.config: LightRAGConfig | None = None
        self.network: NetworkPolicy = NetworkPolicy.server()
        self.llm_key: str | None = None
        self.embed_key: str | None = None
        self.vectors: dict[str, list[float]] = {}
        self.dims = 0

    @property
    def current(self) -> LightRAGConfig:
        """The config of the call being served."""
        assert self.config is not None, "set() before LightRAG runs"
        return self.config

    def set(self, config: LightRAGConfig, context: Context, dims: int) -> None:
        self.config = config
        self.dims = dims
        self.network = context.network
        self.llm_key = context.secrets.get("llm_api_key")
        self.embed_key = context.secrets.get("embed_api_key") or self.llm_key

    async def _post(self, url: str, key: str | None, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with async_client(self.network, timeout=self.current.timeout_s) as client:
            try:
                response = await client.post(url, json=body, headers=headers)
            except Exception as exc:
                raise RetryableError(f"{url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise RetryableError(f"{url} answered {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            raise ConfigInvalid(
                f"{url} refused the request ({response.status_code}: {response.text[:300]}); check the endpoint, "
                "the model and the API key secret"
            )
        try:
            data = response.json()
        except ValueError:
            raise ConfigInvalid(f"{url} did not answer JSON; is it an OpenAI-compatible API?") from None
        if not isinstance(data, dict):
            raise ConfigInvalid(f"{url} did not answer an object; is it an OpenAI-compatible API?")
        return data

    async def complete(
        self,
        prompt: str,
        system_prompt: str | None = None,
        history_messages: Sequence[Mapping[str, str]] | None = None,
        **_: Any,
    ) -> str:
        """LightRAG's ``llm_model_func``: one chat completion."""
        base = self.current.llm_base_url
        messages: list[dict[str, str]] = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages += [dict(m) for m in history_messages or []]
        messages.append({"role": "user", "content": prompt})
        url = str(base).rstrip("/") + "/chat/completions"
        data = await self._post(
            url, self.llm_key, {"model": self.current.llm_model, "messages": messages, "temperature": 0}
        )
        try:
            return str(data["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise ConfigInvalid(f"{url} answered without choices[0].message.content") from None

    async def embed(self, texts: list[str], **_: Any) -> np.ndarray:
        """LightRAG's embedding function: the host's vector for a text it sent, else the embeddings endpoint."""
        out: list[list[float] | None] = [self.vectors.get(t.strip()) for t in texts]
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            base = self.current.embed_base_url or self.current.llm_base_url
            url = str(base).rstrip("/") + "/embeddings"
            body = {"model": self.current.embed_model, "input": [texts[i] for i in missing]}
            data = await self._post(url, self.embed_key, body)
            try:
                rows = sorted(data["data"], key=lambda row: int(row["index"]))
                for i, row in zip(missing, rows, strict=True):
                    out[i] = [float(x) for x in row["embedding"]]
            except (KeyError, TypeError, ValueError):
                raise ConfigInvalid(f"{url} did not answer an embeddings list for every input") from None
            sizes = {len(out[i] or []) for i in missing}
            if sizes != {self.dims}:
                raise ConfigInvalid(
                    f"config field 'embed_base_url': {url} ({self.current.embed_model}) gives vectors of "
                    f"{sorted(sizes)} dimensions but the collection's are {self.dims}; use the index's embedder "
                    "(the same model) there",
                    details={"field": "embed_base_url"},
                )
        return np.asarray(out, dtype=np.float32)


class _Records:
    """``records.sqlite``: each record's metadata, for filters and counts."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, metadata TEXT NOT NULL)")

    def put(self, rows: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO records VALUES (?, ?)",
            [(rid, json.dumps(meta, separators=(",", ":"))) for rid, meta in rows],
        )

    def remove(self, ids: Sequence[str]) -> None:
        self.db.executemany("DELETE FROM records WHERE id = ?", [(i,) for i in ids])

    def metadata(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for rid, meta in self.db.execute(f"SELECT id, metadata FROM records WHERE id IN ({marks})", part):  # noqa: S608 -- placeholders only
                found[rid] = json.loads(meta)
        return found

    def matching(self, where: Mapping[str, object] | None) -> list[str]:
        return [
            rid
            for rid, meta in self.db.execute("SELECT id, metadata FROM records")
            if matches_filter(json.loads(meta), where)
        ]


def matches_filter(metadata: Mapping[str, object], where: Mapping[str, object] | None) -> bool:
    """Equality on each field; a list means any of its values."""
    for key, wanted in (where or {}).items():
        value = metadata.get(key)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


class _Graph:
    """One collection: its LightRAG instance, its records table and its vectors' size."""

    def __init__(self, folder: Path, collection: str, dims: int, endpoints: _Endpoints) -> None:
        from lightrag import LightRAG  # noqa: PLC0415 -- heavy; loaded on first use
        from lightrag.utils import EmbeddingFunc, Tokenizer  # noqa: PLC0415

        self.dims = dims
        self.endpoints = endpoints
        self.records = _Records(folder / "records.sqlite")
        self.rag = LightRAG(
            working_dir=str(folder / "graph"),
            workspace="",
            tokenizer=Tokenizer("utf8-bytes", _ByteTokenizer()),
            chunk_token_size=1_000_000,
            chunk_overlap_token_size=0,
            embedding_func=EmbeddingFunc(embedding_dim=dims, func=endpoints.embed, model_name=f"synthral-{dims}"),
            llm_model_func=endpoints.complete,
            # Entities and relations: LightRAG's own similarity floor keeps unrelated ones out.
            vector_db_storage_cls_kwargs={"cosine_better_than_threshold": 0.2},
            # The graph's chunks in the order of the entities and relations that led to them;
            # the vector order is fused in afterwards.
            kg_chunk_pick_method="WEIGHT",
            enable_llm_cache=False,
            enable_llm_cache_for_entity_extract=False,
            entity_extract_max_gleaning=0,
        )
        # Chunks: a vector query ranks every record, however far (top_k decides, not a floor).
        self.rag.chunks_vdb.cosine_better_than_threshold = -1.0  # type: ignore[attr-defined]
        del collection


class _Graphs(Collections["_Graph"]):
    """The open graphs, the endpoints their calls use, and the loop thread every LightRAG call runs on."""

    def __init__(self) -> None:
        super().__init__("lightrag", "LightRAG keeps its graphs")
        self.endpoints = _Endpoints()

    def graph(
        self, config: LightRAGConfig, context: Context, collection: str, dims: int | None = None
    ) -> _Graph | None:
        def opener(folder: Path, size: int) -> _Graph:
            graph = _Graph(folder, collection, size, self.endpoints)
            self.run(_awaited(graph.rag.initialize_storages()))
            return graph

        return self.get(config.path, context, collection, dims, opener)


async def _awaited(value: Awaitable[T]) -> T:
    return await value


_graphs = _Graphs()


async def _forget(graph: _Graph, ids: Sequence[str]) -> None:
    statuses = await graph.rag.doc_status.get_by_ids(list(ids))
    for rid, status in zip(ids, statuses, strict=True):
        if status:
            await graph.rag.adelete_by_doc_id(rid)


async def _remember(graph: _Graph, ids: list[str], texts: list[str]) -> None:
    """Insert the texts as documents; LightRAG keeps a failure in its status, so look and undo."""
    await _forget(graph, ids)
    await graph.rag.ainsert(texts, ids=ids, file_paths=ids)
    statuses = await graph.rag.doc_status.get_by_ids(ids)
    failed = [(rid, s) for rid, s in zip(ids, statuses, strict=True) if not s or s.get("status") != "processed"]
    if not failed:
        return
    await _forget(graph, ids)
    rid, status = failed[0]
    why = str((status or {}).get("error_msg") or (status or {}).get("status") or "not stored")
    message = f"LightRAG could not index record {rid!r} ({len(failed)} of {len(ids)} failed; none kept): {why[:500]}"
    if "config field" in why:
        field = "embed_base_url" if "embed_base_url" in why else "llm_base_url"
        raise ConfigInvalid(message, details={"field": field})
    raise RetryableError(message)


async def _vector_ranking(graph: _Graph, vector: list[float], top_k: int) -> list[tuple[str, float, str]]:
    rows = await graph.rag.chunks_vdb.query("", top_k=top_k, query_embedding=vector)
    return [
        (str(r.get("full_doc_id") or r.get("file_path")), float(r["distance"]), str(r.get("content", ""))) for r in rows
    ]


async def _graph_ranking(graph: _Graph, text: str, top_k: int) -> list[tuple[str, str]]:
    from lightrag import QueryParam  # noqa: PLC0415

    answer = await graph.rag.aquery_data(
        text, QueryParam(mode="hybrid", top_k=max(top_k, 10), chunk_top_k=max(top_k, 10), enable_rerank=False)
    )
    if answer.get("status") != "success":
        if (answer.get("metadata") or {}).get("failure_reason") == "no_results":
            return []  # nothing in the graph near the query's keywords: the vector ranking alone
        raise RetryableError(f"LightRAG retrieval failed: {answer.get('message')}")
    chunks = answer.get("data", {}).get("chunks", [])
    return [(str(c.get("file_path")), str(c.get("content", ""))) for c in chunks]


class LightRAGStore(VectorStore[LightRAGConfig]):
    """LightRAG: a knowledge graph an LLM builds from the chunks, searched with their vectors."""

    name = "lightrag"
    title = "LightRAG (graph + vector)"
    features = ("filter", "graph", "hybrid")
    secrets = ("llm_api_key", "embed_api_key")

    def upsert(self, request: UpsertRequest, config: LightRAGConfig, context: Context) -> UpsertResult:
        """Forget each record id, then insert its text as a document: entities and relations extracted."""
        if not request.records:
            return UpsertResult(upserted=0)
        records = list({r.id: r for r in request.records}.values())
        blank = [r.id for r in records if not (r.text or "").strip()]
        if blank:
            raise InputInvalid(
                f"records {blank[:5]} have no text; LightRAG builds its graph from text, so send each chunk's text"
            )
        with _graphs.lock:
            existing = _graphs.graph(config, context, request.collection)
            dims = self.check_vectors(
                request.collection, [r.vector for r in records], None if existing is None else existing.dims
            )
            graph = existing or _graphs.graph(config, context, request.collection, dims)
            assert graph is not None
            _graphs.endpoints.set(config, context, graph.dims)
            _graphs.endpoints.vectors = {(r.text or "").strip(): r.vector for r in records}
            try:
                _graphs.run(_remember(graph, [r.id for r in records], [r.text or "" for r in records]))
            finally:
                _graphs.endpoints.vectors = {}
            graph.records.put([(r.id, r.metadata) for r in records])
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: LightRAGConfig, context: Context) -> QueryResult:
        """The nearest chunks (filtered); with the query's text, fused with LightRAG's graph retrieval."""
        graph = _graphs.graph(config, context, request.collection)
        if graph is None:
            return QueryResult(matches=[])
        if len(request.vector) != graph.dims:
            raise self.dimension_error(request.collection, graph.dims, len(request.vector))
        use_graph = bool(request.text)
        with _graphs.lock:
            allowed = None if request.filter is None else set(graph.records.matching(request.filter))
            total = len(graph.records.matching(None))
            wide = total if allowed is not None else min(total, request.top_k * (3 if use_graph else 1))
            _graphs.endpoints.set(config, context, graph.dims)
            ranked = _graphs.run(_vector_ranking(graph, request.vector, max(wide, 1)))
            scores = {rid: score for rid, score, _ in ranked}
            texts = {rid: text for rid, _, text in ranked}
            order = [rid for rid, _, _ in ranked if allowed is None or rid in allowed]
            if use_graph:
                _graphs.endpoints.vectors = {(request.text or "").strip(): request.vector}
                try:
                    found = _graphs.run(_graph_ranking(graph, request.text or "", request.top_k))
                finally:
                    _graphs.endpoints.vectors = {}
                texts.update({rid: text for rid, text in found if rid not in texts})
                by_graph = [rid for rid, _ in found if allowed is None or rid in allowed]
                fused: dict[str, float] = {}
                for ranking in (order, by_graph):
                    for rank, rid in enumerate(ranking):
                        fused[rid] = fused.get(rid, 0.0) + 1.0 / (_RRF_K + rank + 1)
                order = sorted(fused, key=lambda rid: -fused[rid])
                scores = fused
            order = order[: request.top_k]
            metadata = graph.records.metadata(order)
        return QueryResult(
            matches=[
                QueryMatch(id=rid, score=scores[rid], text=texts.get(rid) or None, metadata=metadata.get(rid, {}))
                for rid in order
                if rid in metadata
            ]
        )

    def delete(self, request: DeleteRequest, config: LightRAGConfig, context: Context) -> DeleteResult:
        """Forget the records of the ids and/or matching the filter, with what the graph took from them."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        graph = _graphs.graph(config, context, request.collection)
        if graph is None or request.ids == []:
            return DeleteResult(deleted=0)
        with _graphs.lock:
            chosen = graph.records.matching(request.filter)
            if request.ids is not None:
                wanted = set(request.ids)
                chosen = [rid for rid in chosen if rid in wanted]
            _graphs.endpoints.set(config, context, graph.dims)
            _graphs.run(_forget(graph, chosen))
            graph.records.remove(chosen)
        return DeleteResult(deleted=len(chosen))

    def count(self, request: CountRequest, config: LightRAGConfig, context: Context) -> CountResult:
        """Records stored (matching the filter)."""
        graph = _graphs.graph(config, context, request.collection)
        if graph is None:
            return CountResult(count=0)
        with _graphs.lock:
            return CountResult(count=len(graph.records.matching(request.filter)), dimensions=graph.dims)
