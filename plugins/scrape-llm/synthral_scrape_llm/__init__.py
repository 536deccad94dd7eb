"""LLM extraction for SynthralOS: the ``extract`` node (fields described in words, filled by a model)."""

from synthral_scrape_llm.extract import Extract

__all__ = ["Extract"]
