"""What a running step may ask of the host: an LLM completion, an agent run, live events.

:class:`AIServices` is handed to the engine; for every step attempt it makes a
:class:`StepHost` (the step's ``context.host``) and an event sink. A step reaches an LLM
through the ``llm`` object in its node's config (``{"provider", "model", "config"}``),
with the secrets the node is granted; only ``agent/run`` steps get tools.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from synthral.errors import ConfigInvalid
from synthral.security.redact import Redactor
from synthral.services.agent_models import AgentConfig, AgentInput
from synthral.services.agents import AgentService
from synthral.services.llm import CallScope, LLMChoice, LLMService
from synthral.services.step_events import StepEvents
from synthral_sdk import AgentStep, CompletionRequest, CompletionResult, HostServices, ToolCall, ToolResult
from synthral_sdk.context import EventSink
from synthral_sdk.types import JSONObject

if TYPE_CHECKING:
    from synthral.engine.runtime import RunContext

__all__ = ["AIServices", "StepHost"]


class StepHost:
    """``context.host`` of one step attempt."""

    def __init__(
        self,
        ai: AIServices,
        ctx: RunContext,
        *,
        node_id: str,
        node_type: str,
        config: Mapping[str, Any],
        key: str,
        attempt: int,
        secrets: Mapping[str, str],
        redactor: Redactor,
        events: EventSink | None,
        timeout: float | None,
    ) -> None:
        self.ai = ai
        self.ctx = ctx
        self.node_id = node_id
        self.node_type = node_type
        self.config = config
        self.key = key
        self.attempt = attempt
        self.secrets = dict(secrets)
        self.redactor = redactor
        self.events = events
        self._deadline = None if timeout is None else time.monotonic() + timeout

    @property
    def workspace_id(self) -> str | None:
        """The step's workspace."""
        return self.ctx.workspace_id

    @property
    def execution_id(self) -> str:
        """The step's run."""
        return self.ctx.execution_id

    def time_remaining(self) -> float | None:
        """Seconds left of the step's timeout."""
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    async def secrets_for(self, names: list[str]) -> dict[str, str]:
        """Secrets of the step's workspace (for tool grants); masked from the step's record."""
        values = await self.ctx.secrets_for(names)
        self.redactor.add(*values.values())
        return values

    def choice(self) -> LLMChoice:
        """The step's LLM, from its node's ``config.llm``."""
        raw = self.config.get("llm")
        if raw is None:
            raise ConfigInvalid(
                f"node '{self.node_id}' ({self.node_type}) asked the host for an LLM completion but its config names "
                'no LLM; add "llm": {"provider": "llm-openai-compatible/openai", "model": "..."} to its config'
            )
        try:
            return LLMChoice.model_validate(raw)
        except ValidationError as exc:
            raise ConfigInvalid(f"node '{self.node_id}': config.llm is not valid: {exc.errors()[0]['msg']}") from None

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """An LLM call with the step's LLM and secrets; recorded and priced."""
        priced = await self.ai.llm.complete(
            request,
            self.choice(),
            secrets=self.secrets,
            scope=CallScope(self.workspace_id, self.execution_id, self.node_id),
            context=self.ai.plugins_context(self.time_remaining(), self.events),
        )
        return priced.result

    async def call_tool(self, call: ToolCall) -> ToolResult:
        """Only agent steps are granted tools."""
        return ToolResult(
            call_id=call.id,
            name=call.name,
            ok=False,
            error=f"node '{self.node_id}' is not an agent step; tools are granted only to agent/run nodes",
        )

    async def record(self, step: AgentStep) -> None:
        """A step the capability reports, shown live."""
        if self.events is not None:
            self.events("agent.step", {"kind": step.kind, "message": self.redactor.text(step.content)[:500]})

    async def run_agent(self, config: JSONObject, payload: JSONObject) -> JSONObject:
        """Run the step's agent task (the ``agent/run`` node)."""
        return await self.ai.agents.run_step(
            self, AgentConfig.model_validate(config), AgentInput.model_validate(payload)
        )


class AIServices:
    """LLM calls, agent tasks and step events, for the engine's steps."""

    def __init__(self, llm: LLMService, agents: AgentService, events: StepEvents) -> None:
        self.llm = llm
        self.agents = agents
        self.events = events

    async def flush(self) -> None:
        """Write every queued record now."""
        await self.llm.records.flush()
        await self.agents.logs.flush()
        await self.events.flush()

    async def close(self) -> None:
        """Write what is queued and stop the background writers."""
        await self.llm.records.close()
        await self.agents.logs.close()
        await self.events.close()

    def plugins_context(self, timeout: float | None, events: EventSink | None) -> Any:
        """A plain call context with a timeout and an event sink."""
        return self.llm.plugins.context(timeout=timeout, events=events)

    def for_step(
        self,
        ctx: RunContext,
        *,
        node_id: str,
        node_type: str,
        config: Mapping[str, Any],
        key: str,
        attempt: int,
        secrets: Mapping[str, str],
        redactor: Redactor,
        timeout: float | None,
    ) -> tuple[HostServices, EventSink]:
        """The host services and the event sink of one step attempt."""
        sink = self.events.sink(ctx.execution_id, node_id, redactor)
        host = StepHost(
            self,
            ctx,
            node_id=node_id,
            node_type=node_type,
            config=config,
            key=key,
            attempt=attempt,
            secrets=secrets,
            redactor=redactor,
            events=sink,
            timeout=timeout,
        )
        return host, sink
