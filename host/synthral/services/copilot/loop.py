"""The tools-only flow of the automation and code modes, as a LangGraph graph.

``model`` asks the workspace's copilot LLM (streamed: each piece of text is a
``TEXT_MESSAGE_CONTENT``), ``tools`` runs the calls it asked for (each a tool-call card and
its result), and the graph goes back to ``model`` until the model answers without calls or
the step limit is reached. The model acts only through tools; the acting tools only propose.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, TypedDict

import orjson

from synthral.errors import SynthralError
from synthral.services.copilot.data import Data
from synthral.services.copilot.events import new_id
from synthral.services.copilot.prompts import system_prompt
from synthral.services.copilot.record import Message
from synthral.services.copilot.tools import CopilotTool
from synthral.services.copilot.turn import Turn
from synthral.services.llm import CallScope
from synthral_sdk import ChatMessage, CompletionRequest, CompletionResult, ToolCall
from synthral_sdk._ai import TOKEN_EVENT

if TYPE_CHECKING:
    from langgraph.graph import StateGraph

__all__ = ["MAX_MODEL_CALLS", "chat_messages", "complete", "run_loop"]

MAX_MODEL_CALLS: Final = 12
TOOL_OUTPUT: Final = 12_000
HISTORY: Final = 60


class LoopState(TypedDict):
    """What the graph routes on; the messages live in the turn (and the database)."""

    calls: list[Data]
    model_calls: int


def _bounded(value: Data) -> str:
    text = orjson.dumps(value, default=str).decode()
    if len(text) <= TOOL_OUTPUT:
        return text
    return text[:TOOL_OUTPUT] + f'… [cut: {len(text) - TOOL_OUTPUT} more characters]"'


def chat_messages(history: Sequence[Message]) -> list[ChatMessage]:
    """The stored conversation as the model's messages (notes become platform messages).

    Only the last ``HISTORY`` messages go, cut where a user's message starts so that no tool
    answer loses the call it answers.
    """
    start = max(0, len(history) - HISTORY)
    while start > 0 and history[start].role not in ("user", "note"):
        start -= 1
    out: list[ChatMessage] = []
    for message in history[start:]:
        if message.role == "user":
            out.append(ChatMessage(role="user", content=message.content))
        elif message.role == "note":
            out.append(ChatMessage(role="user", content=f"[platform] {message.content}"))
        elif message.role == "assistant":
            calls = [
                ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=dict(c.get("arguments") or {}))
                for c in message.tool_calls
            ]
            out.append(ChatMessage(role="assistant", content=message.content, tool_calls=calls))
        elif message.role == "tool":
            out.append(
                ChatMessage(role="tool", content=message.content, tool_call_id=message.tool_call_id, name=message.name)
            )
    return out


async def complete(turn: Turn, messages: list[ChatMessage], tools: Sequence[CopilotTool]) -> CompletionResult:
    """One streamed call of the copilot's LLM: recorded and priced like every other; text streamed as it comes."""
    settings = turn.settings
    loop = asyncio.get_running_loop()
    owner = threading.get_ident()
    streamed: list[str] = []

    def on_event(kind: str, data: Any) -> None:
        if kind != TOKEN_EVENT or not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return
        piece = data["text"]

        def show() -> None:
            streamed.append(piece)
            turn.stream.text_delta(piece)

        if threading.get_ident() == owner:
            show()
        else:
            loop.call_soon_threadsafe(show)

    secrets = await turn.services.secrets(settings.secrets, turn.actor.workspace_id) if settings.secrets else {}
    request = CompletionRequest(
        model=settings.llm.model,
        messages=messages,
        tools=[tool.spec() for tool in tools],
        stream=True,
        temperature=0.2,
    )
    priced = await turn.services.llm.complete(
        request,
        settings.llm,
        secrets=secrets,
        scope=CallScope(turn.actor.workspace_id, conversation_id=turn.conversation.id),
        context=turn.services.plugins.context(timeout=300.0, events=on_event),
    )
    result = priced.result
    turn.count(settings.llm.provider, result.model, result.usage, priced.cost_usd)
    await asyncio.sleep(0)  # let pieces handed over from another thread arrive first
    text = result.message.content or ""
    if text and not streamed:  # a provider that answered whole
        turn.stream.text_delta(text)
    elif text.startswith("".join(streamed)) and len(text) > len("".join(streamed)):
        turn.stream.text_delta(text[len("".join(streamed)) :])
    return result


async def _run_tool(turn: Turn, tools: dict[str, CopilotTool], call: Data) -> Data:
    name = str(call["name"])
    tool = tools.get(name)
    if tool is None:
        return {
            "ok": False,
            "error": f"there is no tool {name!r}; the tools are: {', '.join(sorted(tools))}",
        }
    arguments = call.get("arguments")
    try:
        return await tool.run(turn, arguments if isinstance(arguments, dict) else {}, str(call["id"]))
    except SynthralError as exc:
        return {"ok": False, "error": exc.message, "error_type": exc.error_type}


def _graph(turn: Turn, tools: Sequence[CopilotTool]) -> Any:
    from langgraph.graph import END, START, StateGraph  # noqa: PLC0415 -- loaded with the first turn

    by_name = {tool.name: tool for tool in tools}

    async def model(state: LoopState) -> LoopState:
        messages = [ChatMessage(role="system", content=await system_prompt(turn, tools)), *chat_messages(turn.history)]
        result = await complete(turn, messages, tools)
        message_id = turn.stream.end_text()
        calls: list[Data] = [
            {"id": call.id or new_id("call"), "name": call.name, "arguments": call.arguments}
            for call in result.message.tool_calls
        ]
        for call in calls:
            turn.stream.tool_call(str(call["id"]), str(call["name"]), call["arguments"], parent_message_id=message_id)
        await turn.write(Message(seq=0, role="assistant", content=result.message.content or "", tool_calls=calls))
        return {"calls": calls, "model_calls": state["model_calls"] + 1}

    async def run_tools(state: LoopState) -> LoopState:
        for call in state["calls"]:
            output = await _run_tool(turn, by_name, call)
            turn.stream.tool_result(str(call["id"]), output)
            await turn.write(
                Message(
                    seq=0,
                    role="tool",
                    content=_bounded(output),
                    tool_call_id=str(call["id"]),
                    name=str(call["name"]),
                    data=output,
                )
            )
        return {"calls": [], "model_calls": state["model_calls"]}

    def route(state: LoopState) -> str:
        if not state["calls"]:
            return END
        return "tools"

    def again(state: LoopState) -> str:
        return "model" if state["model_calls"] < MAX_MODEL_CALLS else END

    graph: StateGraph[Any] = StateGraph(LoopState)
    graph.add_node("model", model)
    graph.add_node("tools", run_tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_conditional_edges("tools", again, ["model", END])
    return graph.compile()


async def run_loop(turn: Turn, tools: Sequence[CopilotTool]) -> None:
    """Run the flow until the model answers without calling a tool (or the step limit)."""
    compiled = _graph(turn, tools)
    final = await compiled.ainvoke({"calls": [], "model_calls": 0}, config={"recursion_limit": 4 * MAX_MODEL_CALLS + 4})
    if final["model_calls"] >= MAX_MODEL_CALLS and final["calls"] == []:
        last = turn.history[-1] if turn.history else None
        if last is not None and last.role == "tool":
            turn.stream.text_delta(
                f"(I stopped after {MAX_MODEL_CALLS} model calls in one turn; ask me to go on if there is more to do.)"
            )
            turn.stream.end_text()
            await turn.write(Message(seq=0, role="assistant", content=f"(stopped after {MAX_MODEL_CALLS} model calls)"))
