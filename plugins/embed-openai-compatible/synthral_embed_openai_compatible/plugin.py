"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_embed_openai_compatible.embedder import OpenAICompatibleEmbedder, OpenAIEmbedConfig
from synthral_sdk import Embedder, hookimpl

__all__ = ["synthral_embedders"]


@hookimpl
def synthral_embedders() -> Sequence[Embedder[OpenAIEmbedConfig]]:
    """Offer the store."""
    return [OpenAICompatibleEmbedder()]
