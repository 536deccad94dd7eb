"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from synthral_agent_loops.loops import BeliefGoalLoop, SelfFixLoop, TaskListLoop
from synthral_sdk import AgentFramework, NoConfig, hookimpl

__all__ = ["synthral_agent_frameworks"]


@hookimpl
def synthral_agent_frameworks() -> list[AgentFramework[NoConfig]]:
    """Offer the three loops."""
    return [TaskListLoop(), SelfFixLoop(), BeliefGoalLoop()]
