"""Graphiti temporal knowledge-graph memory on embedded Kuzu, as a store."""

from synthral_memory_graphiti.store import GraphitiConfig, GraphitiStore

__all__ = ["GraphitiConfig", "GraphitiStore"]
