"""The AG-UI events of one run, produced by a turn and read by one transport (SSE or WebSocket).

Events are the ``ag-ui-protocol`` package's models; :class:`RunStream` orders them, gives
each a timestamp, and hands them to the reader through a queue. The turn runs in its own
task: a reader that goes away (a closed tab) does not stop it, and what it did is in the
conversation's record either way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final

import orjson
from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    Interrupt,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)

__all__ = ["PROTOCOL_VERSION", "RunStream", "encode", "new_id"]

PROTOCOL_VERSION: Final = "1.0"
_END: Final = object()


def new_id(prefix: str) -> str:
    """A fresh id for a message, a tool call or a run."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def encode(event: BaseEvent) -> str:
    """One event as the protocol's JSON (camelCase, optional fields left out)."""
    return event.model_dump_json(by_alias=True)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class RunStream:
    """The events of one AG-UI run, in order.

    Args:
        thread_id: The conversation.
        run_id: This run.
    """

    def __init__(self, thread_id: str, run_id: str) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self._queue: asyncio.Queue[BaseEvent | object] = asyncio.Queue()
        self._open_text: str | None = None
        self._open_reasoning: str | None = None
        self.closed = False
        self.text: list[str] = []
        """Text of the assistant message being streamed (what the turn stores when it ends)."""

    # -- reading -------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncIterator[BaseEvent]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            assert isinstance(item, BaseEvent)
            yield item

    # -- writing -------------------------------------------------------------------------

    def emit(self, event: BaseEvent) -> None:
        """Queue one event (stamped with the time in milliseconds)."""
        if self.closed:
            return
        if event.timestamp is None:
            event.timestamp = int(time.time() * 1000)
        self._queue.put_nowait(event)

    def close(self) -> None:
        """No more events: the reader's iteration ends."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(_END)

    def started(self, *, mode: str) -> None:
        """RUN_STARTED."""
        self.emit(
            RunStartedEvent(
                thread_id=self.thread_id,
                run_id=self.run_id,
                protocol_version=PROTOCOL_VERSION,
                metadata={"mode": mode},
            )
        )

    def finished(self, *, interrupts: list[Interrupt], usage: list[TokenUsage], result: Any = None) -> None:
        """RUN_FINISHED: success, or an interrupt outcome naming what waits for the user."""
        self.end_text()
        outcome = RunFinishedInterruptOutcome(interrupts=interrupts) if interrupts else None
        self.emit(
            RunFinishedEvent(
                thread_id=self.thread_id,
                run_id=self.run_id,
                result=result,
                outcome=outcome,
                usage=usage or None,
            )
        )

    def failed(self, message: str, code: str, usage: list[TokenUsage]) -> None:
        """RUN_ERROR."""
        self.end_text()
        self.emit(RunErrorEvent(message=message, code=code, usage=usage or None))

    # -- text ------------------------------------------------------------------------------

    def text_delta(self, piece: str) -> None:
        """Append to the assistant's message, opening one if none is open."""
        if not piece:
            return
        if self._open_text is None:
            self.end_reasoning()
            self._open_text = new_id("msg")
            self.text = []
            self.emit(TextMessageStartEvent(message_id=self._open_text, role="assistant"))
        self.text.append(piece)
        self.emit(TextMessageContentEvent(message_id=self._open_text, delta=piece))

    def reasoning_delta(self, piece: str) -> None:
        """Append to the agent's reasoning (its intermediate model output), opening a span if none is open."""
        if not piece:
            return
        if self._open_reasoning is None:
            self.end_text()
            self._open_reasoning = new_id("reasoning")
            self.emit(ReasoningStartEvent(message_id=self._open_reasoning))
            self.emit(ReasoningMessageStartEvent(message_id=self._open_reasoning, role="reasoning"))
        self.emit(ReasoningMessageContentEvent(message_id=self._open_reasoning, delta=piece))

    def end_reasoning(self) -> None:
        """Close the open reasoning span."""
        if self._open_reasoning is not None:
            self.emit(ReasoningMessageEndEvent(message_id=self._open_reasoning))
            self.emit(ReasoningEndEvent(message_id=self._open_reasoning))
            self._open_reasoning = None

    def end_text(self) -> str | None:
        """Close the open assistant message; its id, or None when none was open."""
        self.end_reasoning()
        message_id = self._open_text
        if message_id is not None:
            self.emit(TextMessageEndEvent(message_id=message_id))
            self._open_text = None
        return message_id

    # -- tools, state, steps -----------------------------------------------------------------

    def tool_call(self, call_id: str, name: str, arguments: Any, parent_message_id: str | None = None) -> None:
        """TOOL_CALL_START, one TOOL_CALL_ARGS with the whole arguments, TOOL_CALL_END."""
        self.end_text()
        self.emit(ToolCallStartEvent(tool_call_id=call_id, tool_call_name=name, parent_message_id=parent_message_id))
        self.emit(ToolCallArgsEvent(tool_call_id=call_id, delta=_json(arguments)))
        self.emit(ToolCallEndEvent(tool_call_id=call_id))

    def tool_result(self, call_id: str, content: Any) -> str:
        """TOOL_CALL_RESULT with the result as JSON text; the tool message's id."""
        message_id = new_id("tool")
        text = content if isinstance(content, str) else _json(content)
        self.emit(ToolCallResultEvent(message_id=message_id, tool_call_id=call_id, content=text, role="tool"))
        return message_id

    def snapshot(self, state: Any) -> None:
        """STATE_SNAPSHOT."""
        self.emit(StateSnapshotEvent(snapshot=state))

    def delta(self, operations: list[dict[str, Any]]) -> None:
        """STATE_DELTA with RFC 6902 operations."""
        if operations:
            self.emit(StateDeltaEvent.model_validate({"type": "STATE_DELTA", "delta": operations}))

    def step(self, name: str, *, done: bool) -> None:
        """STEP_STARTED or STEP_FINISHED."""
        self.emit(StepFinishedEvent(step_name=name) if done else StepStartedEvent(step_name=name))

    def custom(self, name: str, value: Any) -> None:
        """CUSTOM (the platform's own events: a routing decision, an agent's step, a one-time secret)."""
        self.emit(CustomEvent(name=name, value=value))
