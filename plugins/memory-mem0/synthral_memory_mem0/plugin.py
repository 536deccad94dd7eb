"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_memory_mem0.store import Mem0Config, Mem0Store
from synthral_sdk import VectorStore, hookimpl

__all__ = ["synthral_vector_stores"]


@hookimpl
def synthral_vector_stores() -> Sequence[VectorStore[Mem0Config]]:
    """Offer the store."""
    return [Mem0Store()]
