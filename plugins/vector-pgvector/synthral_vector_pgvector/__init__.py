"""PostgreSQL with pgvector as a vector store: HNSW (cosine), JSONB metadata filters."""

from synthral_vector_pgvector.store import PgVectorConfig, PgVectorStore

__all__ = ["PgVectorConfig", "PgVectorStore"]
