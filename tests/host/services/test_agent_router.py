"""The router's rules, fallbacks and override, on a catalog given as data."""

from __future__ import annotations

import pytest

from synthral.errors import ConfigurationError
from synthral.services.agent_models import RoutingHints
from synthral.services.agent_router import FrameworkInfo, decide

ALL = [
    FrameworkInfo("agent-crewai/crew", "crewai", ("multi_role", "tool_calling")),
    FrameworkInfo("agent-autogen/team", "autogen-agentchat", ("tool_calling", "multi_role")),
    FrameworkInfo("agent-langgraph/react", "langgraph", ("tool_calling",)),
    FrameworkInfo("agent-loops/tasklist", "task-list-loop", ("simple", "recursive")),
    FrameworkInfo("agent-loops/selffix", "self-fix-loop", ("self_fix",)),
    FrameworkInfo("agent-loops/beliefgoal", "belief-goal-loop", ("belief_goal",)),
]


@pytest.mark.parametrize(
    ("hints", "roles", "framework", "style"),
    [
        (RoutingHints(), 1, "agent-langgraph/react", "tool_calling"),
        (RoutingHints(agent_type="simple"), 1, "agent-loops/tasklist", "simple"),
        (RoutingHints(recursive_planning=True), 1, "agent-loops/tasklist", "recursive"),
        (RoutingHints(), 3, "agent-crewai/crew", "multi_role"),  # MetaGPT is not installed: CrewAI is next
        (RoutingHints(agent_roles=2), 1, "agent-crewai/crew", "multi_role"),
        (RoutingHints(agent_self_fix=True, recursive_planning=True), 4, "agent-loops/selffix", "self_fix"),
        (RoutingHints(agent_type="belief_goal"), 1, "agent-loops/beliefgoal", "belief_goal"),
    ],
)
def test_the_prd_rules_pick_the_preferred_installed_framework(
    hints: RoutingHints, roles: int, framework: str, style: str
) -> None:
    decision = decide(hints, ALL, roles=roles)

    assert (decision.framework, decision.style) == (framework, style)
    assert decision.reason and not decision.overridden


def test_missing_styles_fall_back_and_say_so() -> None:
    only_langgraph = [ALL[2]]

    decision = decide(RoutingHints(agent_self_fix=True), only_langgraph)

    assert decision.framework == "agent-langgraph/react"
    assert "no installed framework offers 'self_fix', so the 'tool_calling' one was taken" in decision.reason


def test_the_copilot_preference_changes_the_interface_not_the_framework() -> None:
    decision = decide(RoutingHints(user_prefers_copilot_ui=True), ALL)

    assert decision.interface == "ag-ui" and decision.framework == "agent-langgraph/react"


def test_an_override_must_be_installed_and_records_the_rules_choice() -> None:
    chosen = decide(RoutingHints(agent_self_fix=True), ALL, override="agent-autogen/team")
    assert chosen.framework == "agent-autogen/team" and chosen.rule_choice == "agent-loops/selffix"

    with pytest.raises(ConfigurationError, match="not an installed agent framework"):
        decide(RoutingHints(), ALL, override="agent-metagpt/company")


def test_nothing_installed_says_what_to_install() -> None:
    with pytest.raises(ConfigurationError, match="synthral plugin install agent-loops"):
        decide(RoutingHints(), [])
