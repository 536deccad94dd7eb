"""Retrieval nodes built into the host: chunk, embed, upsert, query, rerank and answer.

They run in the host process because they work on the host's RAG indexes (rows in its
database, collections in vector store plugins); the embedding and the vector search still
happen in the embedder's and the store's own plugin processes. A node acts in the workspace
of the workflow run that calls it, so a workflow only ever reaches its own workspace's
indexes. Registered under the plugin name ``rag`` by :func:`register`.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from sqlalchemy import select

from synthral.errors import InputInvalid
from synthral.plugins.host import PluginHost
from synthral.services.rag import RAGService
from synthral.services.rag_answer import Answer, build_messages, complete, parse_citations
from synthral.services.rag_chunking import ChunkSettings, split_text
from synthral.services.rag_models import DocumentIn, DocumentOutcome, IndexSpec, SearchHit
from synthral.services.rag_router import RoutingFacts
from synthral.store.tables import EXECUTION, WORKFLOW
from synthral_sdk import Context, EmbedResult, NoConfig, Node, hookimpl

__all__ = ["PLUGIN_NAME", "RagNodes", "register", "rrf"]

PLUGIN_NAME = "rag"

_EXECUTION = EXECUTION
_WORKFLOW = WORKFLOW


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- chunk -------------------------------------------------------------------------------


class ChunkIn(_Strict):
    """The text to split."""

    text: str = Field(description="The document's text, e.g. '{{ nodes.ocr.output.text }}'.")


class ChunkOut(BaseModel):
    """The chunks, in order."""

    chunks: list[str]
    starts: list[int] = Field(description="Each chunk's offset in the text (characters).")
    headings: list[dict[str, str]] = Field(description="The Markdown headings each chunk sits under.")
    count: int


class Chunk(Node[ChunkIn, ChunkOut, ChunkSettings]):
    """Split a text into overlapping chunks by tokens, characters or Markdown headings."""

    name = "chunk"
    title = "Chunk text"
    category = "Retrieval"
    icon = "scissors"

    async def run(self, inputs: ChunkIn, config: ChunkSettings, context: Context) -> ChunkOut:
        """Split in a thread: long documents take a while to count."""
        del context
        chunks = await asyncio.to_thread(split_text, inputs.text, config)
        return ChunkOut(
            chunks=[c.text for c in chunks],
            starts=[c.start for c in chunks],
            headings=[c.headings for c in chunks],
            count=len(chunks),
        )


# -- embed -------------------------------------------------------------------------------


class EmbedConfig(_Strict):
    """Which embedder: an index's own (preferred), or one named."""

    index: str | None = Field(default=None, description="Embed with this RAG index's embedder and config.")
    embedder: str | None = Field(default=None, description="Or an embedder, 'plugin/capability'.")
    embedder_config: dict[str, JsonValue] = Field(default_factory=dict)
    purpose: Literal["document", "query"] = "document"

    @model_validator(mode="after")
    def _one_source(self) -> EmbedConfig:
        if (self.index is None) == (self.embedder is None):
            raise ValueError("set exactly one of 'index' (use its embedder) and 'embedder'")
        return self


class EmbedIn(_Strict):
    """Texts to embed."""

    texts: list[str] = Field(min_length=1, description="E.g. '{{ nodes.chunk.output.chunks }}'.")


# -- upsert ------------------------------------------------------------------------------


class UpsertConfig(_Strict):
    """The index, created on first use with these settings."""

    index: str = Field(description="The RAG index's name.")
    store: str | None = Field(default=None, description="Its vector store when it is created; empty: the router.")
    embedder: str | None = Field(default=None, description="Its embedder when it is created; empty: the default.")
    embedder_config: dict[str, JsonValue] | None = None
    chunking: ChunkSettings | None = None
    requires_metadata: bool = Field(default=False, description="Tell the router queries will filter on metadata.")


class UpsertIn(_Strict):
    """A document: its text (chunked and embedded here), or chunks (and vectors) made by earlier nodes."""

    key: str = Field(min_length=1, max_length=512, description="The document's name; the same key replaces it.")
    text: str | None = None
    chunks: list[str] | None = None
    vectors: list[list[float]] | None = None
    model: str | None = Field(default=None, description="The embed node's model id, with 'vectors'.")
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    source: str = Field(default="text", description="'ocr' for OCR output (the router takes it into account).")

    @model_validator(mode="after")
    def _text_or_chunks(self) -> UpsertIn:
        if (self.text is None) == (self.chunks is None):
            raise ValueError("give the document's 'text', or its 'chunks' (with 'vectors' and 'model' if embedded)")
        if self.vectors is not None and (self.chunks is None or self.model is None):
            raise ValueError("'vectors' need the 'chunks' they embed and the embed node's 'model'")
        return self


class UpsertOut(BaseModel):
    """What happened to the document."""

    index: str
    store: str
    outcome: DocumentOutcome


# -- query -------------------------------------------------------------------------------


class QueryIn(_Strict):
    """A question for an index."""

    index: str
    query: str = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=100)
    filter: dict[str, JsonValue] | None = None
    mode: Literal["vector", "hybrid"] = "vector"


class QueryOut(BaseModel):
    """The chunks found, best first."""

    hits: list[SearchHit]
    latency_ms: float


# -- rerank ------------------------------------------------------------------------------


class RerankConfig(_Strict):
    """How ranked lists are fused."""

    method: Literal["rrf"] = Field(
        default="rrf",
        description="Reciprocal-rank fusion. (No cross-encoder model ships with SynthralOS; see docs/rag.md.)",
    )
    k: int = Field(default=60, ge=1, le=10_000, description="RRF's constant: 1/(k + rank).")
    top_n: int = Field(default=5, ge=1, le=1000)


class RerankIn(_Strict):
    """One or more ranked lists of hits (from query nodes)."""

    lists: list[list[SearchHit]] = Field(min_length=1)


class RerankOut(BaseModel):
    """The fused ranking; scores are RRF scores."""

    hits: list[SearchHit]


def rrf(lists: list[list[SearchHit]], *, k: int = 60, top_n: int = 5) -> list[SearchHit]:
    """Reciprocal-rank fusion: each hit scores the sum of 1/(k + rank) over the lists it is in."""
    scores: dict[str, float] = {}
    first: dict[str, SearchHit] = {}
    for ranked in lists:
        for rank, hit in enumerate(ranked, 1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.chunk_id, hit)
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))[:top_n]
    return [first[cid].model_copy(update={"score": scores[cid]}) for cid in order]


# -- answer ------------------------------------------------------------------------------


class AnswerConfig(_Strict):
    """The LLM: an installed provider, or the operator's endpoint."""

    provider: str | None = Field(default=None, description="An LLM provider capability, 'plugin/capability'.")
    model: str | None = Field(default=None, description="The model; the endpoint's default when empty.")
    top_k: int = Field(default=5, ge=1, le=50)
    max_tokens: int = Field(default=512, ge=1, le=32_000)
    mode: Literal["vector", "hybrid"] = "vector"


class AnswerIn(_Strict):
    """The question."""

    index: str
    question: str = Field(min_length=1)
    filter: dict[str, JsonValue] | None = None


class RagNodes:
    """The ``rag`` plugin: its nodes hold the RAG service."""

    def __init__(self, service: RAGService) -> None:
        self.service = service

    @hookimpl
    def synthral_nodes(self) -> list[Node[BaseModel, BaseModel, BaseModel]]:
        """Offer the retrieval nodes."""
        service = self.service
        return [Chunk(), _Embed(service), _Upsert(service), _Query(service), _Rerank(), _Answer(service)]  # type: ignore[list-item]


async def workspace_of(service: RAGService, context: Context) -> str | None:
    """The workspace of the run that makes this call (None for local runs and direct calls)."""
    if context.execution_id is None:
        return None
    query = (
        select(_WORKFLOW.c.workspace_id)
        .select_from(_EXECUTION.join(_WORKFLOW, _EXECUTION.c.workflow_id == _WORKFLOW.c.id))
        .where(_EXECUTION.c.id == context.execution_id)
    )
    async with service.database.engine.connect() as connection:
        return (await connection.execute(query)).scalar_one_or_none()


class _Embed(Node[EmbedIn, EmbedResult, EmbedConfig]):
    """Embed texts with an index's embedder (or a named one)."""

    name = "embed"
    title = "Embed texts"
    category = "Retrieval"
    icon = "binary"

    def __init__(self, service: RAGService) -> None:
        self.service = service

    async def run(self, inputs: EmbedIn, config: EmbedConfig, context: Context) -> EmbedResult:
        """Embed in batches through the embedder plugin."""
        workspace = await workspace_of(self.service, context)
        if config.index is not None:
            index = await self.service._index_row(workspace, config.index)  # noqa: SLF001 -- same package
            embedded = await self.service.embed(
                index["embedder"],
                index["embedder_config"],
                inputs.texts,
                purpose=config.purpose,
                workspace_id=workspace,
            )
            return embedded.result()
        assert config.embedder is not None
        embedded = await self.service.embed(
            config.embedder, config.embedder_config, inputs.texts, purpose=config.purpose, workspace_id=workspace
        )
        return embedded.result()


class _Upsert(Node[UpsertIn, UpsertOut, UpsertConfig]):
    """Put a document into a RAG index: new, replaced when its text changed, unchanged otherwise."""

    name = "upsert"
    title = "Upsert into a RAG index"
    category = "Retrieval"
    icon = "database"

    def __init__(self, service: RAGService) -> None:
        self.service = service

    async def run(self, inputs: UpsertIn, config: UpsertConfig, context: Context) -> UpsertOut:
        """Create the index if needed (the router picks its store), then store the document."""
        workspace = await workspace_of(self.service, context)
        size = len((inputs.text if inputs.text is not None else "".join(inputs.chunks or [])).encode())
        facts = RoutingFacts(
            file_size_bytes=size, ocr_input=inputs.source == "ocr", requires_metadata=config.requires_metadata
        )
        spec = IndexSpec(
            name=config.index,
            store=config.store,
            embedder=config.embedder,
            embedder_config=config.embedder_config,
            chunking=config.chunking,
        )
        info, _ = await self.service.ensure_index(workspace, spec, facts=facts)
        document = DocumentIn(
            key=inputs.key,
            text=inputs.text or "\n\n".join(inputs.chunks or []),
            metadata=inputs.metadata,
            source=inputs.source,
        )
        if inputs.text is not None:
            outcome = (await self.service.ingest(workspace, config.index, [document]))[0]
        else:
            embedded = None
            if inputs.vectors is not None:
                dims = len(inputs.vectors[0]) if inputs.vectors else 0
                embedded = EmbedResult(model=inputs.model or "", dimensions=dims, vectors=inputs.vectors)
            outcome = await self.service.upsert_chunks(workspace, config.index, document, inputs.chunks or [], embedded)
        return UpsertOut(index=info.name, store=info.store, outcome=outcome)


class _Query(Node[QueryIn, QueryOut, NoConfig]):
    """Find the chunks of a RAG index nearest to a question."""

    name = "query"
    title = "Query a RAG index"
    category = "Retrieval"
    icon = "search"

    def __init__(self, service: RAGService) -> None:
        self.service = service

    async def run(self, inputs: QueryIn, config: NoConfig, context: Context) -> QueryOut:
        """Embed the question with the index's embedder and search its store."""
        del config
        workspace = await workspace_of(self.service, context)
        result = await self.service.query(
            workspace, inputs.index, inputs.query, top_k=inputs.top_k, filter=inputs.filter, mode=inputs.mode
        )
        return QueryOut(hits=result.hits, latency_ms=result.latency_ms)


class _Rerank(Node[RerankIn, RerankOut, RerankConfig]):
    """Fuse ranked lists of hits (several queries, indexes or modes) by reciprocal rank."""

    name = "rerank"
    title = "Rerank (reciprocal-rank fusion)"
    category = "Retrieval"
    icon = "list-ordered"

    async def run(self, inputs: RerankIn, config: RerankConfig, context: Context) -> RerankOut:
        """Fuse."""
        del context
        return RerankOut(hits=rrf(inputs.lists, k=config.k, top_n=config.top_n))


class _Answer(Node[AnswerIn, Answer, AnswerConfig]):
    """Answer a question from a RAG index's chunks, citing the ones used as [1], [2]..."""

    name = "answer"
    title = "Answer from a RAG index"
    category = "Retrieval"
    icon = "message-square"

    def __init__(self, service: RAGService) -> None:
        self.service = service

    async def run(self, inputs: AnswerIn, config: AnswerConfig, context: Context) -> Answer:
        """Retrieve, ask the LLM with numbered sources, read its citations."""
        workspace = await workspace_of(self.service, context)
        result = await self.service.query(
            workspace, inputs.index, inputs.question, top_k=config.top_k, filter=inputs.filter, mode=config.mode
        )
        if not result.hits:
            raise InputInvalid(
                f"the RAG index {inputs.index!r} has nothing matching the question; ingest documents first",
                details={"index": inputs.index},
            )
        text, model = await complete(
            build_messages(inputs.question, result.hits),
            plugins=self.service.plugins,
            provider=config.provider,
            model=config.model,
            endpoint=self.service.settings.llm,
            max_tokens=config.max_tokens,
        )
        return Answer(answer=text, model=model, citations=parse_citations(text, result.hits), sources=result.hits)


def register(plugins: PluginHost, service: RAGService) -> None:
    """Register the ``rag`` nodes into a plugin host (once per host)."""
    plugins.register_builtin(PLUGIN_NAME, RagNodes(service))
