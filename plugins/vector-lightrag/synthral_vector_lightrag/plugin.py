"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_sdk import VectorStore, hookimpl
from synthral_vector_lightrag.store import LightRAGConfig, LightRAGStore

__all__ = ["synthral_vector_stores"]


@hookimpl
def synthral_vector_stores() -> Sequence[VectorStore[LightRAGConfig]]:
    """Offer the store."""
    return [LightRAGStore()]
