"""LLMs speaking OpenAI's chat-completions API, as a SynthralOS LLM provider."""

from synthral_llm_openai.provider import OpenAICompatible, OpenAIConfig

__all__ = ["OpenAICompatible", "OpenAIConfig"]
