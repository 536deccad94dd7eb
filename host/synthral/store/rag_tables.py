"""Tables of retrieval: indexes, their documents, queries and the router's decisions.

Declared with SQLAlchemy Core on the one metadata of :mod:`synthral.store.tables`, which
imports this module; times are timezone-aware UTC. The chunks and
their vectors live in the index's vector store (a plugin); these rows say what was put
there, with which embedder, and why that store was chosen.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from synthral.store.tables import UTCDateTime, metadata

__all__ = ["RAG_DOCUMENT", "RAG_INDEX", "RAG_QUERY", "RAG_SWITCH_LOG"]

_metadata = metadata


def _ts(name: str, comment: str, *, nullable: bool = False, index: bool = False) -> Column[object]:
    return Column(name, UTCDateTime(), nullable=nullable, index=index, comment=comment)


RAG_INDEX = Table(
    "rag_index",
    _metadata,
    Column("id", String, primary_key=True),
    Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
        comment="The workspace it belongs to; NULL for local runs outside any workspace.",
    ),
    Column("name", String, nullable=False, comment="Unique in its workspace; what queries and nodes name."),
    Column("owner_id", String, nullable=True, comment="The user who created it; NULL locally."),
    Column(
        "vector_db_type",
        String,
        nullable=False,
        comment="The vector store capability holding its chunks, 'plugin/capability' (e.g. vector-lancedb/lancedb).",
    ),
    Column("store_config", JSON, nullable=False, comment="The store's config for this index (no secrets)."),
    Column(
        "store_pinned",
        Boolean,
        nullable=False,
        comment="True when a person chose the store (the router's override); False when the router chose it.",
    ),
    Column("collection", String, nullable=False, comment="The collection in the store: rag_ + the id's hex."),
    Column("embedder", String, nullable=False, comment="The embedder capability, 'plugin/capability'."),
    Column("embedder_config", JSON, nullable=False, comment="The embedder's config; part of the index's identity."),
    Column(
        "embedding_model",
        String,
        nullable=True,
        comment="The model id the embedder reported for the first chunks; NULL until then. Queries must match it.",
    ),
    Column("dimensions", Integer, nullable=True, comment="The vectors' length; NULL until the first chunks."),
    Column("chunking", JSON, nullable=False, comment="How documents are split (strategy, size, overlap)."),
    Column("document_count", Integer, nullable=False, comment="Documents currently in the index."),
    Column("chunk_count", Integer, nullable=False, comment="Chunks currently in the store for it."),
    Column("size_bytes", Integer, nullable=False, comment="UTF-8 bytes of the documents' text, for the router."),
    _ts("created_at", "When it was created."),
    _ts("updated_at", "When documents were last added, replaced or removed."),
    Index("uq_rag_index_workspace_name", "workspace_id", "name", unique=True),
    Index(
        "uq_rag_index_local_name",
        "name",
        unique=True,
        sqlite_where=text("workspace_id IS NULL"),
        postgresql_where=text("workspace_id IS NULL"),
    ),
    comment="A retrieval index: a collection in a vector store, filled by one embedder.",
)

RAG_DOCUMENT = Table(
    "rag_document",
    _metadata,
    Column("id", String, primary_key=True),
    Column("index_id", String, ForeignKey("rag_index.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key", String, nullable=False, comment="The caller's name for the document (path, URL, id)."),
    Column("content", Text, nullable=False, comment="The document's text as ingested."),
    Column("content_sha256", String, nullable=False, comment="Hash of content; re-ingesting equal text is a no-op."),
    Column("metadata", JSON, nullable=False, comment="The caller's metadata, copied onto every chunk."),
    Column("source", String, nullable=False, comment="Where the text came from: text, ocr, file..."),
    Column("chunk_count", Integer, nullable=False, comment="Chunks in the store, ids '<document id>:<n>'."),
    _ts("created_at", "When it was first ingested."),
    _ts("updated_at", "When its text last changed."),
    Index("uq_rag_document_index_key", "index_id", "key", unique=True),
    comment="A document ingested into an index; its chunks are in the index's store.",
)

RAG_QUERY = Table(
    "rag_query",
    _metadata,
    Column("id", String, primary_key=True),
    Column("index_id", String, ForeignKey("rag_index.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("user_id", String, nullable=True, comment="Who asked; NULL for workflow steps and local runs."),
    Column("query_text", Text, nullable=False),
    Column("top_k", Integer, nullable=False),
    Column("filter", JSON, nullable=True, comment="The metadata filter, if any."),
    Column("results", JSON, nullable=False, comment="The hits: chunk ids, document keys and scores (no texts)."),
    Column("latency_ms", Float, nullable=False, comment="Embedding the query plus the store's search."),
    _ts("created_at", "When it was asked.", index=True),
    comment="One query of an index (a log).",
)

RAG_SWITCH_LOG = Table(
    "rag_switch_log",
    _metadata,
    Column("id", String, primary_key=True),
    Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
        comment="The workspace the decision was made in; NULL locally.",
    ),
    Column(
        "index_id",
        String,
        ForeignKey("rag_index.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
        comment="The index the decision was for; NULL for a dry evaluation.",
    ),
    Column("decision", String, nullable=False, comment="The store chosen, 'plugin/capability'."),
    Column("rule", String, nullable=False, comment="The rule that decided: override, dataset_size, metadata..."),
    Column("reason", Text, nullable=False, comment="Why, in words, including the rules that could not apply."),
    Column("facts", JSON, nullable=False, comment="What the router was told (sizes, plan, flags)."),
    Column("candidates", JSON, nullable=False, comment="The installed stores it could choose from."),
    _ts("created_at", "When it was decided.", index=True),
    comment="Every decision of the RAG router, with its reason.",
)
