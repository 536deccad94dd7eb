"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_sdk import VectorStore, hookimpl
from synthral_vector_pgvector.store import PgVectorConfig, PgVectorStore, close_pools

__all__ = ["synthral_shutdown", "synthral_vector_stores"]


@hookimpl
def synthral_shutdown() -> None:
    """Close the connection pools and the forwards their connections go through."""
    close_pools()


@hookimpl
def synthral_vector_stores() -> Sequence[VectorStore[PgVectorConfig]]:
    """Offer the store."""
    return [PgVectorStore()]
