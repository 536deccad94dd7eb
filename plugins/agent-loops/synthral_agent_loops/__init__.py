"""Light agent loops on the host's LLM and tools: task lists, self-fixing, beliefs and goals."""

from synthral_agent_loops.loops import BeliefGoalLoop, SelfFixLoop, TaskListLoop

__all__ = ["BeliefGoalLoop", "SelfFixLoop", "TaskListLoop"]
