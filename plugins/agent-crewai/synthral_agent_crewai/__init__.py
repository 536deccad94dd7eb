"""Role-playing crews on CrewAI for SynthralOS."""

from synthral_agent_crewai.agent import CrewAgent

__all__ = ["CrewAgent"]
