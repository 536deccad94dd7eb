"""Pinecone as a vector store through its REST data plane: one namespace per collection."""

from synthral_vector_pinecone.store import PineconeConfig, PineconeStore

__all__ = ["PineconeConfig", "PineconeStore"]
