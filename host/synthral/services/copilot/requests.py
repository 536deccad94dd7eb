"""What a chat request asks for, read from either body the API takes.

``POST /api/v1/chat`` takes AG-UI's ``RunAgentInput`` (what ``@ag-ui/client``'s
``HttpAgent`` sends: ``threadId``, ``runId``, ``messages``, ``forwardedProps``, ``resume``)
or a plain ``{"mode", "prompt", "conversation_id", "workflow_id"}``. Only the newest user
message of ``messages`` is read: the conversation's history is the server's record, so a
client cannot put words in the assistant's mouth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthral.errors import InputInvalid
from synthral.services.copilot.events import new_id
from synthral.services.copilot.turn import MODES

__all__ = ["ChatInput", "Decision", "SimpleChat", "parse_chat"]

MAX_PROMPT: Final = 20_000
THREAD_ID: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@dataclass(frozen=True)
class Decision:
    """The user's answer to one pending action."""

    action_id: str
    decision: str
    changes: dict[str, Any] | None = None


@dataclass
class ChatInput:
    """One chat request, whichever body it came in."""

    thread_id: str | None
    run_id: str
    prompt: str | None
    message_id: str | None
    mode: str | None
    workflow_id: str | None
    decisions: list[Decision] = field(default_factory=list)
    routing: dict[str, Any] = field(default_factory=dict)


class SimpleChat(BaseModel):
    """The plain body: one turn of one mode."""

    model_config = ConfigDict(extra="forbid")

    mode: str | None = Field(default=None, description="automation|agent|agent_flow|code; routed when unset.")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT, description="What the user says.")
    conversation_id: str | None = Field(default=None, description="Continue this conversation; a new one when unset.")
    workflow_id: str | None = Field(default=None, description="The workflow open beside the chat.")


def _mode(value: object) -> str | None:
    if value is None or value == "":
        return None
    if value not in MODES:
        raise InputInvalid(
            f"mode {value!r} is not one of {', '.join(MODES)}; leave it out to have the request routed",
            details={"field": "mode"},
        )
    return str(value)


def _thread(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not THREAD_ID.fullmatch(value):
        raise InputInvalid(
            "threadId / conversation_id must be 1-100 letters, digits, '_', '-', '.' or ':'",
            details={"field": "threadId"},
        )
    return value


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _decisions(entries: object) -> list[Decision]:
    decisions = []
    for number, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            raise InputInvalid(f"resume[{number}] must be an object with interruptId and status")
        interrupt = entry.get("interruptId", entry.get("interrupt_id"))
        status = entry.get("status")
        if not isinstance(interrupt, str) or status not in ("resolved", "cancelled"):
            raise InputInvalid(f"resume[{number}] needs interruptId (an action id) and status resolved|cancelled")
        raw = entry.get("payload")
        payload: dict[str, Any] = raw if isinstance(raw, dict) else {}
        decision = "reject" if status == "cancelled" else str(payload.get("decision") or "confirm")
        changes = payload.get("changes") if isinstance(payload.get("changes"), dict) else None
        decisions.append(Decision(interrupt, decision, changes))
    return decisions


def parse_chat(body: object) -> ChatInput:
    """Read a chat request.

    Raises:
        InputInvalid: Naming the field that is wrong and how to send it.
    """
    if not isinstance(body, dict):
        raise InputInvalid("the body must be a JSON object: AG-UI's RunAgentInput, or {mode, prompt}")
    if "messages" in body or "threadId" in body or "resume" in body:
        return _agui(body)
    try:
        simple = SimpleChat.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "(body)"
        raise InputInvalid(
            f'field \'{where}\': {error["msg"]}; send {{"mode": "automation", "prompt": "..."}} or AG-UI\'s '
            "RunAgentInput",
            details={"field": where},
        ) from None
    return ChatInput(
        thread_id=_thread(simple.conversation_id),
        run_id=new_id("run"),
        prompt=simple.prompt,
        message_id=None,
        mode=_mode(simple.mode),
        workflow_id=simple.workflow_id,
    )


def _agui(body: dict[str, Any]) -> ChatInput:
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise InputInvalid("messages must be a list of AG-UI messages")
    prompt = None
    message_id = None
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "user":
        prompt = _text(messages[-1].get("content")).strip() or None
        message_id = messages[-1].get("id") if isinstance(messages[-1].get("id"), str) else None
    if prompt is not None and len(prompt) > MAX_PROMPT:
        raise InputInvalid(f"the message is {len(prompt)} characters; the limit is {MAX_PROMPT}")
    props = body.get("forwardedProps") or {}
    if not isinstance(props, dict):
        raise InputInvalid("forwardedProps must be an object ({mode, workflow_id})")
    run_id = body.get("runId")
    workflow_id = props.get("workflow_id", props.get("workflowId"))
    routing = props.get("routing")
    return ChatInput(
        thread_id=_thread(body.get("threadId")),
        run_id=run_id if isinstance(run_id, str) and 0 < len(run_id) <= 100 else new_id("run"),
        prompt=prompt,
        message_id=message_id,
        mode=_mode(props.get("mode")),
        workflow_id=workflow_id if isinstance(workflow_id, str) and workflow_id else None,
        decisions=_decisions(body.get("resume")),
        routing=routing if isinstance(routing, dict) else {},
    )
