"""ChromaDB as a vector store: a persistent client in a folder."""

from synthral_vector_chroma.store import ChromaConfig, ChromaStore

__all__ = ["ChromaConfig", "ChromaStore"]
