"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_embed_model2vec.embedder import Model2VecConfig, Model2VecEmbedder
from synthral_sdk import Embedder, hookimpl

__all__ = ["synthral_embedders"]


@hookimpl
def synthral_embedders() -> Sequence[Embedder[Model2VecConfig]]:
    """Offer the ``model2vec`` embedder."""
    return [Model2VecEmbedder()]
