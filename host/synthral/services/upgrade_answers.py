"""What an upgrade check's replayed call may ask of the host: answers from the record, never a model or a tool.

A replayed agent task's framework gets :class:`RecordedAnswers`: an LLM request is answered
with the recorded result when it is the request the recorded run made at that point (same
digest, in order), a tool call with the recorded result of the same tool called with the
same arguments. Anything else stops the call: the new version asked something the recorded
run did not, and a check never spends money or causes an effect to find out what. A
replayed step that is not an agent task (or whose record is gone) gets an instance with
nothing recorded, which refuses every request and says why.
"""

from __future__ import annotations

import asyncio
from typing import Final

from synthral.services.agent_tools import ToolBox, bounded
from synthral.services.agents import Replay, record_digest
from synthral_sdk import AgentStep, CompletionRequest, CompletionResult, ToolCall, ToolResult
from synthral_sdk.errors import NonRetryableError

__all__ = ["NOT_RECORDED", "RecordedAnswers"]

NOT_RECORDED: Final = "NotRecorded"
"""The error type a refused request comes back to the plugin with."""


class RecordedAnswers:
    """The host services of one replayed call, answering only from what the recorded run was answered.

    Args:
        replay: The recorded LLM results and tool results, in order; None when nothing is recorded.
        why_none: Why nothing is recorded (said in the refusal), when ``replay`` is None.
        model: The model the recorded run asked when a request names none (the task's ``llm.model``).
        toolbox: The recorded task's granted tools (prepared, never run): a call of another tool
            is refused the way the recorded run refused it.

    Attributes:
        divergence: Why the call was stopped, once it asked something the record does not hold.
        stopped: Set with ``divergence``, so the caller can stop a call that carries on regardless.
    """

    def __init__(
        self,
        replay: Replay | None,
        *,
        why_none: str = "",
        model: str = "",
        toolbox: ToolBox | None = None,
    ) -> None:
        self.replay = replay
        self.why_none = why_none
        self.model = model
        self.toolbox = toolbox
        self.recorded_requests = len(replay.llm) if replay is not None else 0
        self.requests = 0
        self.tool_calls = 0
        self.divergence: str | None = None
        self.stopped = asyncio.Event()

    def _stop(self, reason: str) -> NonRetryableError:
        if self.divergence is None:
            self.divergence = reason
            self.stopped.set()
        return NonRetryableError(reason, error_type=NOT_RECORDED)

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """The recorded result of this request, if it is the one the recorded run made next.

        Raises:
            NonRetryableError: It is not (``divergence`` says how); no model is asked.
        """
        self.requests += 1
        number = self.requests
        if self.replay is None:
            raise self._stop(
                f"the new version asked the host for an LLM completion (host/complete, request {number}) and "
                f"{self.why_none}, so there is no recorded answer; a check never calls a model"
            )
        if not request.model:  # as the recorded run's session filled it in before taking the digest
            request = request.model_copy(update={"model": self.model})
        if not self.replay.llm:
            raise self._stop(
                f"the new version asked the model more than the recorded run did (request {number}; the "
                f"recorded run made {self.recorded_requests}); a check never calls a model"
            )
        recorded = self.replay.llm_answer(record_digest(request.model_dump(mode="json")))
        if recorded is None:
            raise self._stop(
                f"the new version asked the model something the recorded run did not (request {number} "
                "differs); a check never calls a model"
            )
        return CompletionResult.model_validate(recorded["result"])

    async def call_tool(self, call: ToolCall) -> ToolResult:
        """The recorded result of the same tool called with the same arguments, once.

        A tool the task was not granted is refused as the recorded run refused it.

        Raises:
            NonRetryableError: Nothing like it is recorded (``divergence`` says what); no tool runs.
        """
        self.tool_calls += 1
        if self.replay is None or self.toolbox is None:
            raise self._stop(
                f"the new version asked the host to call the tool {call.name!r} (host/callTool) and "
                f"{self.why_none}, so there is no recorded result; a check never runs a tool"
            )
        if not self.toolbox.knows(call.name):
            return self.toolbox.denial(call)
        recorded = self.replay.tool_result(call.name, record_digest(call.arguments))
        if recorded is None:
            raise self._stop(
                f"the new version called the tool {call.name!r} with arguments the recorded run did not (tool "
                f"call {self.tool_calls}); a check never runs a tool"
            )
        result = ToolResult.model_validate({**recorded, "call_id": call.id})
        return result.model_copy(update={"output": bounded(result.output)})

    async def record(self, step: AgentStep) -> None:
        """Accepted and dropped: a check records nothing of the replayed run."""
        del step
