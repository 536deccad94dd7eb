"""Gemini models through Google's generateContent API, as a SynthralOS LLM provider."""

from synthral_llm_gemini.provider import GeminiConfig, GeminiGenerate

__all__ = ["GeminiConfig", "GeminiGenerate"]
