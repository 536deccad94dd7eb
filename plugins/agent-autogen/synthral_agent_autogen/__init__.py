"""Tool-calling agents and teams on AutoGen AgentChat for SynthralOS."""

from synthral_agent_autogen.agent import AutoGenTeam

__all__ = ["AutoGenTeam"]
