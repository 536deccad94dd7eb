"""Embeddings from any OpenAI-compatible API (OpenAI, Azure-style gateways, vLLM, Ollama, LM Studio)."""

from synthral_embed_openai_compatible.embedder import OpenAICompatibleEmbedder, OpenAIEmbedConfig

__all__ = ["OpenAICompatibleEmbedder", "OpenAIEmbedConfig"]
