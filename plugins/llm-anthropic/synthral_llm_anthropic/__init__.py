"""Claude models through Anthropic's Messages API, as a SynthralOS LLM provider."""

from synthral_llm_anthropic.provider import AnthropicConfig, AnthropicMessages

__all__ = ["AnthropicConfig", "AnthropicMessages"]
