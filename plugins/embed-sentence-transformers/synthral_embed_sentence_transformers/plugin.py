"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_embed_sentence_transformers.embedder import SentenceTransformersEmbedder, STConfig
from synthral_sdk import Embedder, hookimpl

__all__ = ["synthral_embedders"]


@hookimpl
def synthral_embedders() -> Sequence[Embedder[STConfig]]:
    """Offer the store."""
    return [SentenceTransformersEmbedder()]
