"""LLM calls and agent steps as Langfuse traces, through the official Langfuse SDK."""

from __future__ import annotations

from synthral_obs_langfuse.trace import Observation, SendTraces, TraceConfig, TraceInput

__all__ = ["Observation", "SendTraces", "TraceConfig", "TraceInput"]
