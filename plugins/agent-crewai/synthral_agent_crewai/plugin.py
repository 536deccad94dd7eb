"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from synthral_agent_crewai.agent import CrewAgent
from synthral_sdk import AgentFramework, NoConfig, hookimpl

__all__ = ["synthral_agent_frameworks"]


@hookimpl
def synthral_agent_frameworks() -> list[AgentFramework[NoConfig]]:
    """Offer the ``crew`` framework."""
    return [CrewAgent()]
