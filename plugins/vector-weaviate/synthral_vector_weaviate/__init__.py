"""Weaviate as a vector store through its REST and GraphQL API: a class per collection."""

from synthral_vector_weaviate.store import WeaviateConfig, WeaviateStore

__all__ = ["WeaviateConfig", "WeaviateStore"]
