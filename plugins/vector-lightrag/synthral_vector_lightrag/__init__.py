"""LightRAG graph + vector retrieval as a store: an LLM's entities and relations over the index's chunks."""

from synthral_vector_lightrag.store import LightRAGConfig, LightRAGStore

__all__ = ["LightRAGConfig", "LightRAGStore"]
