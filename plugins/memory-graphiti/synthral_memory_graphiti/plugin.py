"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_memory_graphiti.store import GraphitiConfig, GraphitiStore
from synthral_sdk import VectorStore, hookimpl

__all__ = ["synthral_vector_stores"]


@hookimpl
def synthral_vector_stores() -> Sequence[VectorStore[GraphitiConfig]]:
    """Offer the store."""
    return [GraphitiStore()]
