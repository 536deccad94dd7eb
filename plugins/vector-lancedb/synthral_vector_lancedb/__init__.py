"""LanceDB as an embedded vector store for SynthralOS."""

from synthral_vector_lancedb.store import LanceConfig, LanceStore

__all__ = ["LanceConfig", "LanceStore"]
