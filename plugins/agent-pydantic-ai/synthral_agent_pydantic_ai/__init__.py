"""A typed tool-calling agent on Pydantic AI for SynthralOS."""

from synthral_agent_pydantic_ai.agent import TypedAgent

__all__ = ["TypedAgent"]
