"""Qdrant as a vector store: qdrant-client's local mode in a folder, or a Qdrant server by URL."""

from synthral_vector_qdrant.store import QdrantConfig, QdrantStore

__all__ = ["QdrantConfig", "QdrantStore"]
