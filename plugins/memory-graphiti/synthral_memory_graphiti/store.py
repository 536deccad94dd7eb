"""The ``graphiti`` store: Graphiti's temporal knowledge graph on embedded Kuzu, as structured memory.

Each collection is a folder (by default ``graphiti/<collection>`` in the plugin's data
folder) holding a Kuzu database with Graphiti's schema and ``records.sqlite``: each record's
episode, vector and metadata. A record is one Graphiti episode (its text, named by the
record's id); Graphiti asks the configured LLM (an OpenAI-compatible endpoint) for the
entities and facts in it, resolves them against the graph and keeps the facts with the
episodes that support them. The texts Graphiti embeds (entity names, facts) go to the
configured embeddings endpoint, which must give vectors of the collection's size.

A query with only a vector ranks the records by exact cosine similarity of the vectors the
host sent (Graphiti keeps no vector on an episode). A query with text too asks Graphiti's
hybrid search (full-text and vector over facts, reciprocal-rank fused) and fuses the records
behind the facts it finds with the vector ranking by reciprocal rank.

Graphiti and Kuzu are asynchronous; every collection runs on one loop thread owned by the
store, whatever loop the call arrives on.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

# Before Graphiti is imported: no telemetry.
os.environ["GRAPHITI_TELEMETRY_ENABLED"] = "false"

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

__all__ = ["GraphitiConfig", "GraphitiStore", "matches_filter"]

T = TypeVar("T")
_RRF_K = 60
logging.getLogger("graphiti_core").setLevel(logging.WARNING)


class GraphitiConfig(BaseModel):
    """Where the graph lives and the endpoints Graphiti asks."""

    model_config = ConfigDict(extra="forbid")

    llm_base_url: HttpUrl = Field(
        description="OpenAI-compatible endpoint (the LLM provider's base URL) that extracts entities and facts; it "
        "must support JSON-schema structured output. The host fills in the platform's retrieval LLM "
        "(rag.llm_base_url) when the index's config gives none.",
    )
    llm_model: str = Field(default="gpt-4o-mini", min_length=1, description="The model Graphiti asks.")
    embed_base_url: HttpUrl | None = Field(
        default=None,
        description="OpenAI-compatible embeddings endpoint for entity names, facts and queries; it must give vectors "
        "of the index's size. Empty: the LLM endpoint.",
    )
    embed_model: str = Field(default="text-embedding-3-small", min_length=1, description="The embedding model.")
    path: str | None = Field(
        default=None, description="The folder of the graphs. Empty: 'graphiti' in the data folder."
    )
    timeout_s: float = Field(default=120.0, gt=0, le=600, description="Seconds one LLM or embedding request may take.")


def _key(text: str) -> str:
    """A text as Graphiti passes it to the embedder (newlines made spaces), for the host's query vector."""
    return text.replace("\n", " ").strip()


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


class _Endpoints:
    """The requests of the call being served: its network policy, keys and the host's query vectors."""

    def __init__(self) -> None:
        self.config: GraphitiConfig | None = None
        self.network: NetworkPolicy = NetworkPolicy.server()
        self.llm_key: str | None = None
        self.embed_key: str | None = None
        self.vectors: dict[str, list[float]] = {}
        self.dims = 0

    @property
    def current(self) -> GraphitiConfig:
        """The config of the call being served."""
        assert self.config is not None, "set() before Graphiti runs"
        return self.config

    def set(self, config: GraphitiConfig, context: Context, dims: int) -> None:
        self.config = config
        self.dims = dims
        self.network = context.network
        self.llm_key = context.secrets.get("llm_api_key")
        self.embed_key = context.secrets.get("embed_api_key") or self.llm_key

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """The host's vector for a query it sent, else the embeddings endpoint (checked for size)."""
        out: list[list[float] | None] = [self.vectors.get(_key(t)) for t in texts]
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            config = self.current
            url = str(config.embed_base_url or config.llm_base_url).rstrip("/") + "/embeddings"
            headers = {"Authorization": f"Bearer {self.embed_key}"} if self.embed_key else {}
            body = {"model": config.embed_model, "input": [texts[i] for i in missing]}
            async with async_client(self.network, timeout=config.timeout_s) as client:
                try:
                    response = await client.post(url, json=body, headers=headers)
                except Exception as exc:
                    raise RetryableError(f"{url}: {type(exc).__name__}: {exc}") from exc
            if response.status_code in (408, 429) or response.status_code >= 500:
                raise RetryableError(f"{url} answered {response.status_code}: {response.text[:300]}")
            if response.status_code >= 400:
                raise ConfigInvalid(
                    f"config field 'embed_base_url': {url} refused the request ({response.status_code}: "
                    f"{response.text[:300]}); check the endpoint, the model and the API key secret",
                    details={"field": "embed_base_url"},
                )
            try:
                rows = sorted(response.json()["data"], key=lambda row: int(row["index"]))
                for i, row in zip(missing, rows, strict=True):
                    out[i] = [float(x) for x in row["embedding"]]
            except (KeyError, TypeError, ValueError):
                raise ConfigInvalid(
                    f"config field 'embed_base_url': {url} did not answer an embeddings list for every input",
                    details={"field": "embed_base_url"},
                ) from None
            sizes = {len(out[i] or []) for i in missing}
            if sizes != {self.dims}:
                raise ConfigInvalid(
                    f"config field 'embed_base_url': {url} ({config.embed_model}) gives vectors of {sorted(sizes)} "
                    f"dimensions but the collection's are {self.dims}; use the index's embedding model there",
                    details={"field": "embed_base_url"},
                )
        return [v or [] for v in out]


def _load_graphiti() -> None:
    """Import Graphiti once, quietly: its modules still use Pydantic's class-based config (deprecated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import graphiti_core.graphiti  # noqa: F401, PLC0415 -- heavy; loaded on first use


def _embedder(endpoints: _Endpoints, dims: int) -> Any:
    from graphiti_core.embedder.client import EmbedderClient, EmbedderConfig  # noqa: PLC0415 -- heavy

    class HostEmbedder(EmbedderClient):
        """Graphiti's embedder: the endpoint of the call being served."""

        def __init__(self) -> None:
            self.config = EmbedderConfig(embedding_dim=dims)

        async def create(self, input_data: str | list[str] | Iterable[int] | Iterable[Iterable[int]]) -> list[float]:
            texts = [input_data] if isinstance(input_data, str) else list(input_data)
            if len(texts) != 1 or not isinstance(texts[0], str):
                raise InputInvalid("Graphiti asked to embed something that is not one text")
            return (await endpoints.embed(texts))[0]

        async def create_batch(self, input_data_list: list[str]) -> list[list[float]]:
            return await endpoints.embed(input_data_list)

    return HostEmbedder()


def _keep_order() -> Any:
    from graphiti_core.cross_encoder.client import CrossEncoderClient  # noqa: PLC0415 -- heavy

    class KeepOrder(CrossEncoderClient):
        """No cross-encoder runs here: passages keep the order the search gave (its default is RRF)."""

        async def rank(self, query: str, passages: list[str]) -> list[tuple[str, float]]:
            del query
            return [(p, 1.0 / (i + 1)) for i, p in enumerate(passages)]

    return KeepOrder()


class _Records:
    """``records.sqlite``: each record's episode, vector and metadata."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, episode TEXT NOT NULL, text TEXT NOT NULL, "
            "metadata TEXT NOT NULL, vector BLOB NOT NULL)"
        )

    def put(self, rows: Sequence[tuple[str, str, str, Mapping[str, object], list[float]]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
            [
                (rid, episode, text, json.dumps(meta, separators=(",", ":")), np.asarray(vec, np.float32).tobytes())
                for rid, episode, text, meta, vec in rows
            ],
        )

    def remove(self, ids: Sequence[str]) -> None:
        self.db.executemany("DELETE FROM records WHERE id = ?", [(i,) for i in ids])

    def all(self) -> list[tuple[str, str, str, dict[str, Any], bytes]]:
        return [
            (rid, episode, text, json.loads(meta), vec)
            for rid, episode, text, meta, vec in self.db.execute(
                "SELECT id, episode, text, metadata, vector FROM records"
            )
        ]

    def episodes(self, ids: Sequence[str]) -> dict[str, str]:
        wanted = set(ids)
        return {rid: episode for rid, episode in self.db.execute("SELECT id, episode FROM records") if rid in wanted}


class _Graph:
    """One collection: Graphiti over its Kuzu database, its records and its vectors' size."""

    def __init__(self, folder: Path, collection: str, dims: int, endpoints: _Endpoints) -> None:
        _load_graphiti()
        import kuzu  # noqa: PLC0415 -- heavy; loaded on first use
        from graphiti_core import Graphiti  # noqa: PLC0415
        from graphiti_core.driver.driver import GraphProvider  # noqa: PLC0415
        from graphiti_core.driver.kuzu_driver import KuzuDriver  # noqa: PLC0415
        from graphiti_core.graph_queries import get_fulltext_indices  # noqa: PLC0415
        from graphiti_core.llm_client.config import LLMConfig  # noqa: PLC0415
        from graphiti_core.llm_client.openai_generic_client import OpenAIGenericClient  # noqa: PLC0415

        self.dims = dims
        self.group = collection
        self.records = _Records(folder / "records.sqlite")
        fresh = not (folder / "graph.kuzu").exists()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Graphiti marks its Kuzu driver deprecated
            driver = KuzuDriver(db=str(folder / "graph.kuzu"))
        # Graphiti 0.31 scopes a request by comparing its group id with the driver's database
        # name, which its Kuzu driver never sets; one database per collection makes them one.
        driver._database = collection  # noqa: SLF001
        if fresh:  # its Kuzu driver makes the tables but not the full-text indexes its search reads
            connection = kuzu.Connection(driver.db)
            for statement in get_fulltext_indices(GraphProvider.KUZU):
                connection.execute(statement)
            connection.close()
        config = endpoints.current
        self.llm = OpenAIGenericClient(
            LLMConfig(
                api_key="unused",
                model=config.llm_model,
                small_model=config.llm_model,
                base_url=str(config.llm_base_url),
            )
        )
        self.graphiti = Graphiti(
            graph_driver=driver, llm_client=self.llm, embedder=_embedder(endpoints, dims), cross_encoder=_keep_order()
        )

    def point(self, endpoints: _Endpoints) -> None:
        """Aim the LLM client at this call's endpoint, key and network policy."""
        from openai import AsyncOpenAI  # noqa: PLC0415

        config = endpoints.current
        self.llm.model = config.llm_model
        self.llm.small_model = config.llm_model
        self.llm.client = AsyncOpenAI(
            api_key=endpoints.llm_key or "unused",
            base_url=str(config.llm_base_url),
            max_retries=0,
            timeout=config.timeout_s,
            http_client=async_client(endpoints.network, timeout=config.timeout_s),
        )


class _Graphs(Collections["_Graph"]):
    """The open graphs, the endpoints their calls use, and the loop thread every Graphiti call runs on."""

    def __init__(self) -> None:
        super().__init__("graphiti", "Graphiti keeps its graphs")
        self.endpoints = _Endpoints()

    def graph(
        self, config: GraphitiConfig, context: Context, collection: str, dims: int | None = None
    ) -> _Graph | None:
        def opener(folder: Path, size: int) -> _Graph:
            self.endpoints.set(config, context, size)
            return _Graph(folder, collection, size, self.endpoints)

        return self.get(config.path, context, collection, dims, opener)


_graphs = _Graphs()


async def _add(graph: _Graph, rid: str, text: str) -> str:
    from graphiti_core.nodes import EpisodeType  # noqa: PLC0415

    result = await graph.graphiti.add_episode(
        name=rid,
        episode_body=text,
        source=EpisodeType.text,
        source_description="SynthralOS record",
        reference_time=datetime.now(UTC),
        group_id=graph.group,
    )
    return str(result.episode.uuid)


async def _remove(graph: _Graph, episodes: Iterable[str]) -> None:
    for episode in episodes:
        await graph.graphiti.remove_episode(episode)


async def _remember(graph: _Graph, records: Sequence[tuple[str, str]]) -> list[str]:
    """Add an episode per record; on a failure remove the ones this batch added and raise."""
    added: list[str] = []
    try:
        for rid, text in records:
            added.append(await _add(graph, rid, text))
    except BaseException:
        await _remove(graph, added)
        raise
    return added


async def _search(graph: _Graph, text: str, limit: int) -> list[str]:
    """The episodes behind the facts Graphiti's hybrid search finds, best first."""
    edges = await graph.graphiti.search(text, group_ids=[graph.group], num_results=limit)
    return [episode for edge in edges for episode in edge.episodes]


def _failure(exc: Exception, what: str) -> Exception:
    if isinstance(exc, ConfigInvalid | InputInvalid | RetryableError):
        return exc
    return RetryableError(f"Graphiti could not {what}: {type(exc).__name__}: {str(exc)[:500]}")


class GraphitiStore(VectorStore[GraphitiConfig]):
    """Graphiti: a temporal knowledge graph an LLM builds from the records, searched with their vectors."""

    name = "graphiti"
    title = "Graphiti memory (embedded Kuzu)"
    features = ("filter", "graph", "memory")
    secrets = ("llm_api_key", "embed_api_key")

    def upsert(self, request: UpsertRequest, config: GraphitiConfig, context: Context) -> UpsertResult:
        """Add each record as an episode (entities and facts extracted), then forget what it replaces."""
        if not request.records:
            return UpsertResult(upserted=0)
        records = list({r.id: r for r in request.records}.values())
        blank = [r.id for r in records if not (r.text or "").strip()]
        if blank:
            raise InputInvalid(
                f"records {blank[:5]} have no text; Graphiti builds its graph from text, so send each chunk's text"
            )
        with _graphs.lock:
            existing = _graphs.graph(config, context, request.collection)
            dims = self.check_vectors(
                request.collection, [r.vector for r in records], None if existing is None else existing.dims
            )
            graph = existing or _graphs.graph(config, context, request.collection, dims)
            assert graph is not None
            _graphs.endpoints.set(config, context, graph.dims)
            graph.point(_graphs.endpoints)
            old = graph.records.episodes([r.id for r in records])
            try:
                added = _graphs.run(_remember(graph, [(r.id, r.text or "") for r in records]))
                _graphs.run(_remove(graph, old.values()))
            except Exception as exc:
                raise _failure(exc, "add the records (none of this batch was kept)") from exc
            graph.records.put(
                [(r.id, e, r.text or "", r.metadata, r.vector) for r, e in zip(records, added, strict=True)]
            )
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: GraphitiConfig, context: Context) -> QueryResult:
        """The nearest records (filtered); with the query's text, fused with Graphiti's search over facts."""
        graph = _graphs.graph(config, context, request.collection)
        if graph is None:
            return QueryResult(matches=[])
        if len(request.vector) != graph.dims:
            raise self.dimension_error(request.collection, graph.dims, len(request.vector))
        with _graphs.lock:
            rows = [row for row in graph.records.all() if matches_filter(row[3], request.filter)]
            if not rows:
                return QueryResult(matches=[])
            matrix = np.frombuffer(b"".join(row[4] for row in rows), dtype=np.float32).reshape(len(rows), graph.dims)
            probe = np.asarray(request.vector, dtype=np.float32)
            norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(probe) or 1.0)
            similarity = (matrix @ probe) / np.where(norms == 0, 1.0, norms)
            order = [int(i) for i in np.argsort(-similarity)]
            scores = {rows[i][0]: float(similarity[i]) for i in order}
            ranking = [rows[i][0] for i in order]
            if request.text:
                _graphs.endpoints.set(config, context, graph.dims)
                graph.point(_graphs.endpoints)
                _graphs.endpoints.vectors = {_key(request.text): request.vector}
                try:
                    episodes = _graphs.run(_search(graph, request.text, max(request.top_k * 2, 10)))
                except Exception as exc:
                    raise _failure(exc, "search the graph") from exc
                finally:
                    _graphs.endpoints.vectors = {}
                by_episode = {row[1]: row[0] for row in rows}
                by_graph = list(dict.fromkeys(by_episode[e] for e in episodes if e in by_episode))
                fused: dict[str, float] = {}
                for ranked in (ranking[: max(request.top_k * 3, 10)], by_graph):
                    for rank, rid in enumerate(ranked):
                        fused[rid] = fused.get(rid, 0.0) + 1.0 / (_RRF_K + rank + 1)
                ranking = sorted(fused, key=lambda rid: -fused[rid])
                scores = fused
            chosen = ranking[: request.top_k]
            found = {row[0]: row for row in rows}
        return QueryResult(
            matches=[
                QueryMatch(id=rid, score=scores[rid], text=found[rid][2] or None, metadata=found[rid][3])
                for rid in chosen
            ]
        )

    def delete(self, request: DeleteRequest, config: GraphitiConfig, context: Context) -> DeleteResult:
        """Forget the records of the ids and/or matching the filter, with the facts only they supported."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        graph = _graphs.graph(config, context, request.collection)
        if graph is None or request.ids == []:
            return DeleteResult(deleted=0)
        with _graphs.lock:
            rows = [row for row in graph.records.all() if matches_filter(row[3], request.filter)]
            if request.ids is not None:
                wanted = set(request.ids)
                rows = [row for row in rows if row[0] in wanted]
            _graphs.endpoints.set(config, context, graph.dims)
            try:
                _graphs.run(_remove(graph, [row[1] for row in rows]))
            except Exception as exc:
                raise _failure(exc, "remove the records") from exc
            graph.records.remove([row[0] for row in rows])
        return DeleteResult(deleted=len(rows))

    def count(self, request: CountRequest, config: GraphitiConfig, context: Context) -> CountResult:
        """Records stored (matching the filter)."""
        graph = _graphs.graph(config, context, request.collection)
        if graph is None:
            return CountResult(count=0)
        with _graphs.lock:
            rows = [row for row in graph.records.all() if matches_filter(row[3], request.filter)]
        return CountResult(count=len(rows), dimensions=graph.dims)
