"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from synthral_llm_anthropic.provider import AnthropicConfig, AnthropicMessages
from synthral_sdk import LLMProvider, hookimpl

__all__ = ["synthral_llm_providers"]


@hookimpl
def synthral_llm_providers() -> list[LLMProvider[AnthropicConfig]]:
    """Offer the ``anthropic`` provider."""
    return [AnthropicMessages()]
