"""One request to the copilot: who asks, in which conversation, with which services and events.

A :class:`Turn` lives for one AG-UI run. It holds the actor (the user's role is checked
again by every tool that acts), the conversation's state (each change goes out as a
``STATE_DELTA``), the messages written so far and the tokens spent.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ag_ui.core import Interrupt, TokenUsage

from synthral.errors import Forbidden
from synthral.services.copilot.catalog import Catalog
from synthral.services.copilot.data import Data
from synthral.services.copilot.events import RunStream
from synthral.services.copilot.record import Action, Conversation, Message, Owner, Record
from synthral.services.copilot.settings import CopilotSettings
from synthral.store.tables import Role
from synthral_sdk import Usage

if TYPE_CHECKING:
    from synthral.engine.runtime import SecretResolver
    from synthral.plugins.host import PluginHost
    from synthral.services.agents import AgentService
    from synthral.services.code import CodeService
    from synthral.services.events import EventHub
    from synthral.services.llm import LLMService
    from synthral.services.secrets import CredentialService
    from synthral.services.webhooks import WebhookService
    from synthral.services.workflows import WorkflowService
    from synthral.store.db import Database

__all__ = ["MODES", "Actor", "Services", "Turn"]

MODES: Final = ("automation", "agent", "agent_flow", "code")
_RANK: Final = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


@dataclass(frozen=True)
class Actor:
    """The user the copilot acts for, with their role in the workspace (and a key's workflow scope)."""

    workspace_id: str
    user_id: str
    role: str
    scope_workflow_id: str | None = None

    @property
    def owner(self) -> Owner:
        """Whose conversations these are."""
        return Owner(self.workspace_id, self.user_id, self.scope_workflow_id)

    def allows(self, role: str) -> bool:
        """Whether the actor has ``role`` or a higher one."""
        return _RANK.get(self.role, 0) >= _RANK[role]

    def require(self, role: str, what: str) -> None:
        """Refuse unless the actor has ``role``.

        Raises:
            Forbidden: Naming what needs which role.
        """
        if not self.allows(role):
            raise Forbidden(
                f"{what} needs the {role} role in this workspace; you are {self.role}. Ask an {role} or owner",
                details={"needed": role, "role": self.role},
            )

    def check_scope(self, workflow_id: str | None, what: str) -> None:
        """Refuse a workflow other than the key's own when the key is scoped to one.

        Raises:
            Forbidden: Naming the scope.
        """
        if self.scope_workflow_id is not None and workflow_id != self.scope_workflow_id:
            raise Forbidden(
                f"this API key may only use the copilot on its own workflow; {what} concerns another one",
                details={"scope_workflow_id": self.scope_workflow_id},
            )


@dataclass
class Services:
    """What the copilot's tools and actions work with: the same services the API's routes use."""

    database: Database
    plugins: PluginHost
    workflows: WorkflowService
    llm: LLMService
    agents: AgentService
    code: Callable[[], CodeService]
    secrets: SecretResolver
    credentials: CredentialService
    webhooks: WebhookService | None
    events: EventHub
    public_url: str
    record: Record
    catalog: Catalog


@dataclass
class Turn:
    """One run of one conversation."""

    services: Services
    actor: Actor
    conversation: Conversation
    stream: RunStream
    mode: str
    settings: CopilotSettings
    history: list[Message] = field(default_factory=list)
    """Every stored message of the conversation, the ones this run wrote appended as they are."""
    proposed: list[Action] = field(default_factory=list)
    """Actions this run proposed."""
    usage: dict[tuple[str, str], Usage] = field(default_factory=dict)
    cost_usd: float = 0.0
    continue_model: bool = False
    """An action's outcome the model should see and explain (a run's, some code's)."""

    @property
    def run_id(self) -> str:
        """This AG-UI run."""
        return self.stream.run_id

    @property
    def state(self) -> Data:
        """The conversation's state (what the chat's STATE_SNAPSHOT carries)."""
        return self.conversation.state

    @property
    def open_workflow_id(self) -> str | None:
        """The workflow edits and runs apply to when none is named."""
        return self.actor.scope_workflow_id or self.conversation.workflow_id

    async def write(self, *messages: Message) -> None:
        """Store messages of this run now (a crash later keeps them) and add them to the history."""
        for message in messages:
            message.mode = message.mode or self.mode
        await self.services.record.append(self.conversation.id, self.run_id, list(messages))
        self.history.extend(messages)

    async def set_state(self, key: str, value: Any) -> None:
        """Change one top-level member of the state: stored, and sent as a STATE_DELTA."""
        if value is None:
            if key not in self.state:
                return
            del self.state[key]
            operation: dict[str, Any] = {"op": "remove", "path": f"/{key}"}
        else:
            self.state[key] = copy.deepcopy(value)
            operation = {"op": "add", "path": f"/{key}", "value": self.state[key]}
        self.stream.delta([operation])
        await self.services.record.update(self.conversation.id, state=self.state)

    async def refresh_pending(self) -> list[Action]:
        """Read the pending actions again; put them in the state; return them."""
        pending = await self.services.record.actions(self.conversation.id, status="pending")
        await self.set_state("pending_actions", [action.wire() for action in pending] or None)
        return pending

    def count(self, provider: str, model: str, usage: Usage, cost: float | None) -> None:
        """Add an LLM call's tokens (and cost) to the run's usage."""
        key = (provider, model)
        self.usage[key] = self.usage.get(key, Usage()) + usage
        self.cost_usd += cost or 0.0

    def token_usage(self) -> list[TokenUsage]:
        """The run's usage in AG-UI's terms, one entry per provider and model."""
        return [
            TokenUsage(
                provider=provider,
                model=model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.input_tokens + usage.output_tokens,
            )
            for (provider, model), usage in self.usage.items()
        ]

    async def interrupts(self) -> list[Interrupt]:
        """Every pending action of the conversation, as the interrupts the run ends with."""
        pending = await self.services.record.actions(self.conversation.id, status="pending")
        return [
            Interrupt(
                id=action.id,
                reason=f"confirm_{action.kind}",
                message=action.summary,
                tool_call_id=action.tool_call_id,
                response_schema={
                    "type": "object",
                    "properties": {"decision": {"enum": _decisions(action.kind)}},
                    "required": ["decision"],
                },
                metadata={"kind": action.kind, "needs_role": action.needs_role},
            )
            for action in pending
        ]


def _decisions(kind: str) -> list[str]:
    """What a client may answer an action with (a proposed workflow can also be applied in the builder)."""
    return ["confirm", "apply", "reject", "defer"] if kind == "save_workflow" else ["confirm", "reject", "defer"]
