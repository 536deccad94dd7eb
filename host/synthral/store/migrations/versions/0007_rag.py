"""rag: indexes, documents, queries, router decisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rag_index",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column(
            "workspace_id",
            sa.String(),
            nullable=True,
            comment="The workspace it belongs to; NULL for local runs outside any workspace.",
        ),
        sa.Column("name", sa.String(), nullable=False, comment="Unique in its workspace; what queries and nodes name."),
        sa.Column("owner_id", sa.String(), nullable=True, comment="The user who created it; NULL locally."),
        sa.Column(
            "vector_db_type",
            sa.String(),
            nullable=False,
            comment="The vector store capability holding its chunks, 'plugin/capability' (e.g. vector-lancedb/lancedb).",
        ),
        sa.Column("store_config", sa.JSON(), nullable=False, comment="The store's config for this index (no secrets)."),
        sa.Column(
            "store_pinned",
            sa.Boolean(),
            nullable=False,
            comment="True when a person chose the store (the router's override); False when the router chose it.",
        ),
        sa.Column(
            "collection", sa.String(), nullable=False, comment="The collection in the store: rag_ + the id's hex."
        ),
        sa.Column("embedder", sa.String(), nullable=False, comment="The embedder capability, 'plugin/capability'."),
        sa.Column(
            "embedder_config", sa.JSON(), nullable=False, comment="The embedder's config; part of the index's identity."
        ),
        sa.Column(
            "embedding_model",
            sa.String(),
            nullable=True,
            comment="The model id the embedder reported for the first chunks; NULL until then. Queries must match it.",
        ),
        sa.Column(
            "dimensions", sa.Integer(), nullable=True, comment="The vectors' length; NULL until the first chunks."
        ),
        sa.Column("chunking", sa.JSON(), nullable=False, comment="How documents are split (strategy, size, overlap)."),
        sa.Column("document_count", sa.Integer(), nullable=False, comment="Documents currently in the index."),
        sa.Column("chunk_count", sa.Integer(), nullable=False, comment="Chunks currently in the store for it."),
        sa.Column(
            "size_bytes", sa.Integer(), nullable=False, comment="UTF-8 bytes of the documents' text, for the router."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="When it was created."),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When documents were last added, replaced or removed.",
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        comment="A retrieval index: a collection in a vector store, filled by one embedder.",
    )
    with op.batch_alter_table("rag_index", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rag_index_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index("uq_rag_index_workspace_name", ["workspace_id", "name"], unique=True)
        batch_op.create_index(
            "uq_rag_index_local_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("workspace_id IS NULL"),
            postgresql_where=sa.text("workspace_id IS NULL"),
        )

    op.create_table(
        "rag_document",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("index_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False, comment="The caller's name for the document (path, URL, id)."),
        sa.Column("content", sa.Text(), nullable=False, comment="The document's text as ingested."),
        sa.Column(
            "content_sha256",
            sa.String(),
            nullable=False,
            comment="Hash of content; re-ingesting equal text is a no-op.",
        ),
        sa.Column("metadata", sa.JSON(), nullable=False, comment="The caller's metadata, copied onto every chunk."),
        sa.Column("source", sa.String(), nullable=False, comment="Where the text came from: text, ocr, file..."),
        sa.Column("chunk_count", sa.Integer(), nullable=False, comment="Chunks in the store, ids '<document id>:<n>'."),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="When it was first ingested."),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, comment="When its text last changed."),
        sa.ForeignKeyConstraint(["index_id"], ["rag_index.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        comment="A document ingested into an index; its chunks are in the index's store.",
    )
    with op.batch_alter_table("rag_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rag_document_index_id"), ["index_id"], unique=False)
        batch_op.create_index("uq_rag_document_index_key", ["index_id", "key"], unique=True)

    op.create_table(
        "rag_query",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("index_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True, comment="Who asked; NULL for workflow steps and local runs."),
        sa.Column("query_text", sa.Text(), nullable=False),
        sa.Column("top_k", sa.Integer(), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=True, comment="The metadata filter, if any."),
        sa.Column(
            "results", sa.JSON(), nullable=False, comment="The hits: chunk ids, document keys and scores (no texts)."
        ),
        sa.Column("latency_ms", sa.Float(), nullable=False, comment="Embedding the query plus the store's search."),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="When it was asked."),
        sa.ForeignKeyConstraint(["index_id"], ["rag_index.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        comment="One query of an index (a log).",
    )
    with op.batch_alter_table("rag_query", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rag_query_index_id"), ["index_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rag_query_created_at"), ["created_at"], unique=False)

    op.create_table(
        "rag_switch_log",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column(
            "workspace_id", sa.String(), nullable=True, comment="The workspace the decision was made in; NULL locally."
        ),
        sa.Column(
            "index_id", sa.String(), nullable=True, comment="The index the decision was for; NULL for a dry evaluation."
        ),
        sa.Column("decision", sa.String(), nullable=False, comment="The store chosen, 'plugin/capability'."),
        sa.Column(
            "rule", sa.String(), nullable=False, comment="The rule that decided: override, dataset_size, metadata..."
        ),
        sa.Column(
            "reason", sa.Text(), nullable=False, comment="Why, in words, including the rules that could not apply."
        ),
        sa.Column("facts", sa.JSON(), nullable=False, comment="What the router was told (sizes, plan, flags)."),
        sa.Column("candidates", sa.JSON(), nullable=False, comment="The installed stores it could choose from."),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="When it was decided."),
        sa.ForeignKeyConstraint(["index_id"], ["rag_index.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        comment="Every decision of the RAG router, with its reason.",
    )
    with op.batch_alter_table("rag_switch_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rag_switch_log_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rag_switch_log_index_id"), ["index_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rag_switch_log_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("rag_switch_log")
    op.drop_table("rag_query")
    op.drop_table("rag_document")
    op.drop_table("rag_index")
