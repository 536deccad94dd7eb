"""Milvus as a vector store: Milvus Lite embedded in a file, or a Milvus server by URI."""

from synthral_vector_milvus.store import MilvusConfig, MilvusStore

__all__ = ["MilvusConfig", "MilvusStore"]
