"""What the host offers a call while it runs (protocol 1.1): LLM completions, tool calls, step records.

A plugin reaches them through ``context.host``. In a plugin process that is an
:class:`RpcHost`, which sends ``host/*`` requests back over the call's own connection
(docs/plugin-protocol.md, section 3.4); inside the host it is the host's own object.
Either way the host decides: which tools are granted, which model answers, what the
budget allows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from synthral_sdk._json import JSONObject, JSONValue

if TYPE_CHECKING:  # the models load with the first request: a plugin that never asks pays nothing at start
    from synthral_sdk._ai import AgentStep, CompletionRequest, CompletionResult, ToolCall, ToolResult

__all__ = ["HOST_METHODS", "HostServices", "RpcHost"]

COMPLETE_METHOD: Final = "host/complete"
CALL_TOOL_METHOD: Final = "host/callTool"
RECORD_METHOD: Final = "host/record"
HOST_METHODS: Final = (COMPLETE_METHOD, CALL_TOOL_METHOD, RECORD_METHOD)
"""The plugin → host requests of protocol 1.1."""


@runtime_checkable
class HostServices(Protocol):
    """The host's side of a call: what a capability may ask of it while it runs."""

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """Ask the LLM the host chose for this call; usage is recorded and budgets apply.

        Raises:
            BudgetExceeded: The call's token, cost or step budget is spent.
        """
        ...

    async def call_tool(self, call: ToolCall) -> ToolResult:
        """Run a granted tool; a refused or failing tool comes back with ``ok`` false.

        Raises:
            BudgetExceeded: The call's step budget is spent.
        """
        ...

    async def record(self, step: AgentStep) -> None:
        """Record a step of the agent's work (a thought, a plan) in the execution history."""
        ...


Send = Callable[[str, JSONObject], Awaitable[JSONValue]]


class RpcHost:
    """:class:`HostServices` over the plugin protocol, for one ``invoke``.

    Args:
        send: Sends a request to the host and returns its result (raises the error it carries).
        request_id: The ``invoke`` this call serves; the host routes by it.
    """

    def __init__(self, send: Send, request_id: int) -> None:
        self._send = send
        self._request_id = request_id

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """See :meth:`HostServices.complete`."""
        from synthral_sdk._ai import CompletionResult  # noqa: PLC0415 -- see the import note above

        answer = await self._send(
            COMPLETE_METHOD, {"requestId": self._request_id, "request": request.model_dump(mode="json")}
        )
        return CompletionResult.model_validate(answer)

    async def call_tool(self, call: ToolCall) -> ToolResult:
        """See :meth:`HostServices.call_tool`."""
        from synthral_sdk._ai import ToolResult  # noqa: PLC0415 -- see the import note above

        answer = await self._send(
            CALL_TOOL_METHOD, {"requestId": self._request_id, "call": call.model_dump(mode="json")}
        )
        return ToolResult.model_validate(answer)

    async def record(self, step: AgentStep) -> None:
        """See :meth:`HostServices.record`."""
        await self._send(RECORD_METHOD, {"requestId": self._request_id, "step": step.model_dump(mode="json")})
