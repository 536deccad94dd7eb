"""A ReAct tool-calling agent on LangGraph for SynthralOS."""

from synthral_agent_langgraph.agent import ReactAgent

__all__ = ["ReactAgent"]
