"""The data of retrieval: settings, documents, indexes, hits and router log entries."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from synthral.errors import ConfigurationError
from synthral.services.rag_chunking import ChunkSettings
from synthral.services.rag_router import RoutingFacts
from synthral_sdk.types import JSONObject

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

    @classmethod
    def from_env(cls) -> LLMEndpoint | None:
        """``SYNTHRAL_RAG_LLM_BASE_URL`` (with ``_MODEL``, ``_API_KEY``), or None when unset."""
        base = os.environ.get("SYNTHRAL_RAG_LLM_BASE_URL", "").strip()
        if not base:
            return None
        model = os.environ.get("SYNTHRAL_RAG_LLM_MODEL", "").strip()
        if not model:
            raise ConfigurationError("SYNTHRAL_RAG_LLM_BASE_URL is set but SYNTHRAL_RAG_LLM_MODEL is not; set both")
        return cls(base.rstrip("/"), model, os.environ.get("SYNTHRAL_RAG_LLM_API_KEY") or None)


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
    def from_env(cls) -> RagSettings:
        """Read ``SYNTHRAL_RAG_STORES``, ``SYNTHRAL_RAG_EMBEDDER`` and the ``SYNTHRAL_RAG_LLM_*`` variables."""
        raw = os.environ.get("SYNTHRAL_RAG_STORES", "").strip()
        configs: dict[str, JSONObject] = {}
        if raw:
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"SYNTHRAL_RAG_STORES is not JSON ({exc}); set it to an object") from None
            if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
                raise ConfigurationError(
                    'SYNTHRAL_RAG_STORES must map store names to config objects: {"weaviate": {"url": "..."}}'
                )
            configs = cast(dict[str, JSONObject], parsed)
        return cls(configs, os.environ.get("SYNTHRAL_RAG_EMBEDDER") or DEFAULT_EMBEDDER, LLMEndpoint.from_env())


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
