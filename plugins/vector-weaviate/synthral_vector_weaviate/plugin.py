"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_sdk import VectorStore, hookimpl
from synthral_vector_weaviate.store import WeaviateConfig, WeaviateStore

__all__ = ["synthral_vector_stores"]


@hookimpl
def synthral_vector_stores() -> Sequence[VectorStore[WeaviateConfig]]:
    """Offer the store."""
    return [WeaviateStore()]
