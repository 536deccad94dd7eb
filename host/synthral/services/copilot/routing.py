"""Which of the four modes answers a message the user sent without choosing one.

Rules, first match wins (the decision and its reason are sent as the ``routing`` state):

1. code in the message (a fenced block) or asking to write, run or compute with code → ``code``;
2. an agent asked for, with a workflow open to feed → ``agent_flow``;
3. an agent asked for, or open-ended research, summarising or reasoning → ``agent``;
4. everything else (building, scheduling, running, fixing, explaining workflows) → ``automation``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["Route", "route"]

_CODE: Final = re.compile(
    r"```|\b(?:python|javascript|js|script|snippet|regex|code|compute|calculate|function)\b", re.IGNORECASE
)
_AGENT: Final = re.compile(r"\b(?:agent|research|brainstorm|summari[sz]e|think through|reason about|plan)\b", re.I)
_AUTOMATION: Final = re.compile(
    r"\b(?:workflow|automat\w*|schedule|every|cron|webhook|trigger|node|run|failed|fail\w*|error|step|email|fetch|"
    r"send|when|build|create|edit|fix)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Route:
    """The mode chosen and why."""

    mode: str
    reason: str
    chosen_by: str = "router"

    def wire(self) -> dict[str, str]:
        """For the chat's state."""
        return {"mode": self.mode, "reason": self.reason, "chosen_by": self.chosen_by}


def route(prompt: str, *, workflow_open: bool) -> Route:
    """The mode for ``prompt``."""
    automation = bool(_AUTOMATION.search(prompt))
    if _CODE.search(prompt) and ("```" in prompt or not automation):
        return Route("code", "the message is about code: it runs in the sandbox")
    if _AGENT.search(prompt):
        if workflow_open and automation:
            return Route("agent_flow", "an agent is asked for and a workflow is open to take its answer")
        if not automation:
            return Route("agent", "an open-ended task for one agent")
    return Route("automation", "building, running or explaining workflows")
