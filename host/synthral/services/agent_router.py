"""The agent router: which installed framework runs a task, and why.

The PRD's rules, first match wins:

1. ``agent_self_fix`` → a self-fixing loop (Archon-style: run, check, repair);
2. more than one role → a multi-role framework (MetaGPT, then CrewAI, then AutoGen);
3. ``recursive_planning`` → a task-list loop (AutoGPT/BabyAGI-style);
4. ``agent_type = simple`` → a simple loop (AgentGPT-style);
5. ``agent_type = belief_goal`` → a belief/goal loop (Agent0-style);
6. otherwise a tool-calling agent (LangGraph first).

Only installed frameworks are candidates: each declares its styles in the catalog. When no
installed framework has the wanted style the router falls back along a chain and says so.
``user_prefers_copilot_ui`` does not change the framework; it marks the answer for the
chat copilot (ag-ui). An explicit framework overrides the rules; the decision records
what the rules would have chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from pydantic import BaseModel

from synthral.errors import ConfigurationError
from synthral.services.agent_models import RoutingHints
from synthral_sdk.types import JSONObject

__all__ = ["FrameworkInfo", "RoutingDecision", "decide"]

PREFERRED: Final[dict[str, tuple[str, ...]]] = {
    "multi_role": ("metagpt", "crewai", "autogen-agentchat", "semantic-kernel"),
    "tool_calling": ("langgraph", "pydantic-ai", "autogen-agentchat", "semantic-kernel", "crewai"),
}
"""Framework packages in the order the PRD prefers them for a style; others follow by name."""

FALLBACK: Final[dict[str, tuple[str, ...]]] = {
    "self_fix": ("tool_calling",),
    "multi_role": ("tool_calling",),
    "recursive": ("simple", "tool_calling"),
    "simple": ("tool_calling", "recursive"),
    "belief_goal": ("tool_calling", "simple"),
    "tool_calling": ("simple", "recursive"),
}

_WHY: Final[dict[str, str]] = {
    "self_fix": "agent_self_fix is set: a self-fixing loop (Archon-style) runs, checks and repairs",
    "multi_role": "the task has {roles} roles: a multi-role framework (MetaGPT/CrewAI) gives each its part",
    "recursive": "recursive_planning is set: a task-list loop (AutoGPT/BabyAGI-style) plans and works the list",
    "simple": "agent_type is simple: a simple loop (AgentGPT-style) works the goal step by step",
    "belief_goal": "agent_type is belief_goal: a belief/goal loop (Agent0-style) revises beliefs toward the goal",
    "tool_calling": "no routing rule matched: a tool-calling agent is the default",
}


@dataclass(frozen=True)
class FrameworkInfo:
    """An installed agent framework capability."""

    ref: str
    framework: str
    styles: tuple[str, ...]
    version: str = ""


class RoutingDecision(BaseModel):
    """What the router chose and why; recorded with the task."""

    framework: str
    style: str
    reason: str
    overridden: bool = False
    rule_choice: str | None = None
    candidates: list[str] = []
    interface: str = "workflow"

    def wire(self) -> JSONObject:
        """JSON for the task record and the API."""
        return self.model_dump(mode="json")


def _style(hints: RoutingHints, roles: int) -> str:
    if hints.agent_self_fix:
        return "self_fix"
    if roles > 1:
        return "multi_role"
    if hints.recursive_planning:
        return "recursive"
    if hints.agent_type in {"simple", "belief_goal", "self_fix", "recursive", "multi_role"}:
        return hints.agent_type
    return "tool_calling"


def _ranked(style: str, installed: Sequence[FrameworkInfo]) -> list[FrameworkInfo]:
    order = PREFERRED.get(style, ())
    having = [info for info in installed if style in info.styles]

    def rank(info: FrameworkInfo) -> tuple[int, str]:
        return (order.index(info.framework) if info.framework in order else len(order), info.ref)

    return sorted(having, key=rank)


@dataclass
class _Choice:
    framework: FrameworkInfo
    style: str
    reason: str
    candidates: list[str] = field(default_factory=list)


def _by_rules(hints: RoutingHints, roles: int, installed: Sequence[FrameworkInfo]) -> _Choice:
    wanted = _style(hints, roles)
    reason = _WHY[wanted].format(roles=roles)
    for style in (wanted, *FALLBACK[wanted]):
        ranked = _ranked(style, installed)
        if ranked:
            if style != wanted:
                reason += f"; no installed framework offers '{wanted}', so the '{style}' one was taken"
            return _Choice(ranked[0], style, reason, [info.ref for info in ranked])
    if installed:
        first = sorted(installed, key=lambda info: info.ref)[0]
        style = first.styles[0] if first.styles else "tool_calling"
        reason += f"; no installed framework offers '{wanted}' or its fallbacks, so {first.ref} was taken"
        return _Choice(first, style, reason, [info.ref for info in installed])
    raise ConfigurationError(
        "no agent framework is installed; install one, e.g. 'synthral plugin install agent-loops' or "
        "'synthral plugin install agent-langgraph'",
        details={"wanted": wanted},
    )


def decide(
    hints: RoutingHints, installed: Sequence[FrameworkInfo], *, roles: int = 1, override: str | None = None
) -> RoutingDecision:
    """Choose the framework for a task.

    Args:
        hints: The task's routing facts.
        installed: The agent frameworks installed and enabled.
        roles: Team members configured (``hints.agent_roles`` wins when set).
        override: An explicit framework, ``plugin/capability``.

    Raises:
        ConfigurationError: Nothing is installed, or the override is not an installed framework.
    """
    roles = hints.agent_roles or roles
    interface = "ag-ui" if hints.user_prefers_copilot_ui else "workflow"
    if override is not None:
        chosen = next((info for info in installed if info.ref == override), None)
        if chosen is None:
            known = ", ".join(sorted(info.ref for info in installed)) or "none"
            raise ConfigurationError(
                f"framework {override!r} is not an installed agent framework (installed: {known}); install it or "
                "leave 'framework' unset to let the router choose",
                details={"framework": override},
            )
        try:
            rules = _by_rules(hints, roles, installed)
            rule_choice: str | None = rules.framework.ref
            because = f"; the rules would have chosen {rules.framework.ref} ({rules.reason})"
        except ConfigurationError:
            rule_choice, because = None, ""
        return RoutingDecision(
            framework=chosen.ref,
            style=chosen.styles[0] if chosen.styles else "tool_calling",
            reason=f"chosen explicitly (override){because}",
            overridden=True,
            rule_choice=rule_choice,
            candidates=[chosen.ref],
            interface=interface,
        )
    choice = _by_rules(hints, roles, installed)
    return RoutingDecision(
        framework=choice.framework.ref,
        style=choice.style,
        reason=choice.reason,
        candidates=choice.candidates,
        interface=interface,
    )
