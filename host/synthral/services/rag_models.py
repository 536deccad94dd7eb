"""The data of retrieval: settings, documents, indexes, hits and router log entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from synthral.services.rag_chunking import ChunkSettings
from synthral.services.rag_router import RoutingFacts
from synthral_sdk.types import JSONObject

if TYPE_CHECKING:
    from synthral.config import RAGSettings

__all__ = [
    "DEFAULT_EMBEDDER",
    "RESERVED_METADATA",
    "DocumentIn",
    "DocumentOutcome",
    "IndexInfo",
    "IndexSpec",
    "LLMEndpoint",
    "RagSettings",
    "SearchHit",
    "SearchResult",
    "SwitchLogEntry",
]

DEFAULT_EMBEDDER: Final = "embed-model2vec/model2vec"
RESERVED_METADATA: Final = frozenset({"document_id", "document_key", "chunk", "start", "h1", "h2", "h3", "h4"})
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


@dataclass(frozen=True)
class LLMEndpoint:
    """The operator's OpenAI-compatible endpoint for answers (``rag/answer``)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RagSettings:
    """Host-wide retrieval settings.

    Attributes:
        store_configs: Config per store capability name for indexes that give none (e.g.
            a Weaviate URL), from ``SYNTHRAL_RAG_STORES`` (a JSON object).
        default_embedder: The embedder of indexes that name none.
        llm: The endpoint answers are asked of when no LLM provider is named.
    """

    store_configs: dict[str, JSONObject] = field(default_factory=dict)
    default_embedder: str = DEFAULT_EMBEDDER
    llm: LLMEndpoint | None = None

    @classmethod
    def from_settings(cls, section: RAGSettings) -> RagSettings:
        """The retrieval settings of the host's settings tree (``settings.rag``)."""
        llm = None
        if section.llm_base_url:
            key = section.llm_api_key.get_secret_value() if section.llm_api_key is not None else None
            llm = LLMEndpoint(section.llm_base_url.rstrip("/"), section.llm_model, key or None)
        return cls(dict(section.store_configs), section.default_embedder or DEFAULT_EMBEDDER, llm)


class DocumentIn(BaseModel):
    """A document to ingest."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=512, description="Your name for it: a path, a URL, an id.")
    text: str = Field(max_length=50_000_000, description="Its text (OCR output, a page, a file's content).")
    metadata: dict[str, JsonValue] = Field(default_factory=dict, description="Copied onto every chunk.")
    source: str = Field(default="text", max_length=32, description="Where the text came from: text, ocr, file...")

    @field_validator("metadata")
    @classmethod
    def _no_reserved_keys(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        taken = sorted(RESERVED_METADATA & set(value))
        if taken:
            raise ValueError(f"the keys {taken} are set by the index itself; rename them")
        return value


class IndexSpec(BaseModel):
    """What an index is made of; given when it is created, checked when it is named again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique in the workspace.")
    store: str | None = Field(
        default=None,
        description="The vector store ('plugin/capability' or a capability name). Empty: the router chooses.",
    )
    store_config: dict[str, JsonValue] | None = Field(default=None, description="The store's config (no secrets).")
    embedder: str | None = Field(default=None, description="The embedder, 'plugin/capability'.")
    embedder_config: dict[str, JsonValue] | None = None
    chunking: ChunkSettings | None = None
    routing: RoutingFacts | None = Field(default=None, description="Facts for the router (sizes, plan, flags).")


class DocumentOutcome(BaseModel):
    """What ingesting or deleting one document did."""

    key: str
    status: Literal["added", "replaced", "unchanged", "deleted", "missing"]
    chunks: int = 0


class IndexInfo(BaseModel):
    """An index as callers see it."""

    id: str
    name: str
    store: str
    store_pinned: bool
    embedder: str
    embedding_model: str | None
    dimensions: int | None
    chunking: dict[str, JsonValue]
    document_count: int
    chunk_count: int
    size_bytes: int
    created_at: Any
    updated_at: Any


class SearchHit(BaseModel):
    """One retrieved chunk."""

    chunk_id: str
    document_key: str
    chunk: int
    score: float
    text: str
    metadata: dict[str, JsonValue]


class SearchResult(BaseModel):
    """The answer to a query."""

    index: str
    embedding_model: str | None
    hits: list[SearchHit]
    latency_ms: float


class SwitchLogEntry(BaseModel):
    """One router decision."""

    id: str
    index_id: str | None
    decision: str
    rule: str
    reason: str
    facts: dict[str, JsonValue]
    candidates: list[JsonValue]
    created_at: Any
