"""What AI steps are configured with: the LLM, an agent's tools, budget and routing hints.

Plain models, shared by the built-in ``llm`` and ``agent`` nodes (their config schemas), the
services and the API.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from synthral_sdk import AgentBudget, AgentRole

__all__ = ["AgentConfig", "AgentInput", "LLMChoice", "RoutingHints", "ToolGrant", "tool_name_for"]

TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
STYLES = ("tool_calling", "simple", "recursive", "multi_role", "self_fix", "belief_goal")


def tool_name_for(target: str) -> str:
    """The default name a model sees for a node or workflow: 'http/request' → 'http_request'."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", target).strip("_") or "tool"
    return ("t_" + name if not name[0].isalpha() else name)[:64]


class LLMChoice(BaseModel):
    """Which provider and model a step talks to (a node's ``config.llm``)."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        default="llm-openai-compatible/openai",
        description="The LLM provider capability, 'plugin/capability', e.g. 'llm-anthropic/anthropic'.",
    )
    model: str = Field(min_length=1, description="The model name the provider knows, e.g. 'gpt-4o-mini'.")
    config: dict[str, JsonValue] = Field(
        default_factory=dict, description="The provider's config: base_url, api_key_secret, timeout, retries."
    )


class ToolGrant(BaseModel):
    """One tool an agent may call: a node of an installed plugin (MCP tools included) or a workflow."""

    model_config = ConfigDict(extra="forbid")

    node: str | None = Field(
        default=None, description="'plugin/capability' of an installed plugin, e.g. 'http/request' or 'mcp-time/now'."
    )
    workflow: str | None = Field(default=None, description="A workflow of the same workspace, run as a sub-run.")
    name: str | None = Field(default=None, description="The name the model calls it by; derived when unset.")
    description: str = Field(default="", description="What it does, for the model; the catalog's when empty.")
    operation: str | None = Field(default=None, description="For capabilities with several operations.")
    config: dict[str, JsonValue] = Field(default_factory=dict, description="The node's config, fixed by the grant.")
    secrets: list[str] = Field(default_factory=list, description="Credentials the tool is granted, by name.")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.node is None) == (self.workflow is None):
            raise ValueError("a tool grant names exactly one of 'node' (plugin/capability) or 'workflow'")
        if self.name is not None and not TOOL_NAME.fullmatch(self.name):
            raise ValueError(f"tool name {self.name!r} must be a letter then up to 63 letters, digits, '_' or '-'")
        return self

    @property
    def tool_name(self) -> str:
        """The name the model sees."""
        return self.name or tool_name_for(self.node or self.workflow or "tool")


class RoutingHints(BaseModel):
    """The facts the agent router decides by (the PRD's routing rules)."""

    model_config = ConfigDict(extra="forbid")

    agent_type: Literal["tool_calling", "simple", "recursive", "multi_role", "self_fix", "belief_goal"] | None = Field(
        default=None, description="The kind of agent wanted; 'simple' routes to an AgentGPT-style loop."
    )
    recursive_planning: bool = Field(default=False, description="Plan, split into tasks, work the list (BabyAGI).")
    agent_roles: int | None = Field(default=None, ge=1, description="Members of the team; more than one: MetaGPT.")
    agent_self_fix: bool = Field(default=False, description="Run, check, repair until the check passes (Archon).")
    user_prefers_copilot_ui: bool = Field(default=False, description="Answer through the chat copilot (ag-ui).")


class AgentConfig(BaseModel):
    """The ``agent/run`` node's config."""

    model_config = ConfigDict(extra="forbid")

    llm: LLMChoice
    framework: str | None = Field(
        default=None, description="Override the router: an installed framework, 'plugin/capability'."
    )
    tools: list[ToolGrant] = Field(default_factory=list, description="What the agent may call; nothing else.")
    budget: AgentBudget = Field(default_factory=AgentBudget)
    routing: RoutingHints = Field(default_factory=RoutingHints)
    instructions: str = Field(default="", description="The agent's system prompt.")
    roles: list[AgentRole] = Field(default_factory=list, description="Team members for multi-role frameworks.")
    output_schema: dict[str, JsonValue] | None = Field(default=None, description="JSON Schema of the final answer.")
    framework_config: dict[str, JsonValue] = Field(default_factory=dict, description="The framework's own config.")
    options: dict[str, JsonValue] = Field(default_factory=dict, description="Framework-specific settings.")

    @model_validator(mode="after")
    def _unique_tools(self) -> Self:
        names = [grant.tool_name for grant in self.tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"two tools are named {duplicates[0]!r}; give one a different 'name'")
        return self


class AgentInput(BaseModel):
    """The ``agent/run`` node's input."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, description="What the agent should achieve.")
    inputs: dict[str, JsonValue] = Field(default_factory=dict, description="Data the task is about.")
    spec: AgentConfig | None = Field(
        default=None, description="A whole config for this run, replacing the node's (the agents API sends it)."
    )
