"""The chat copilot over AG-UI: a turn per request (SSE), its conversations, decisions, settings.

``POST /chat`` answers with ``text/event-stream``: AG-UI events encoded by the
``ag-ui-protocol`` package (run started/finished, text messages, tool calls and results,
state snapshots and deltas, steps, errors). A decision on a proposed action is a request
of its own, by the signed-in user. The WebSocket bridge ``/api/agws`` carries the same
runs (see :mod:`synthral.api.routes.chat_bridge`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from ag_ui.encoder import EventEncoder
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from synthral.api.access import Owner, Viewer
from synthral.api.pagination import Cursor, Limit, Page, encode_cursor, text_cursor
from synthral.api.state import ServerState, server_of
from synthral.errors import InputInvalid
from synthral.services.copilot import Actor, CopilotSettings, RunStream
from synthral.services.copilot import parse_chat as parse_chat_body
from synthral.services.copilot.settings import AgentDefaults
from synthral.services.llm import LLMChoice

__all__ = ["actor_of", "router", "sse"]

router = APIRouter(prefix="/chat", tags=["chat"])
Server = Annotated[ServerState, Depends(server_of)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def actor_of(access: Any) -> Actor:
    """The actor of an authorized request: the user, the workspace, the role, a key's workflow scope."""
    return Actor(access.workspace_id, access.principal.user_id, access.role, access.principal.workflow_id)


async def sse(stream: RunStream) -> AsyncIterator[str]:
    """The run's events as server-sent events."""
    encoder = EventEncoder()
    async for event in stream:
        yield encoder.encode(event)


class ChatBody(BaseModel):
    """A chat request: AG-UI's RunAgentInput, or the plain form below.

    RunAgentInput: ``threadId``, ``runId``, ``messages`` (the newest user message is read),
    ``forwardedProps`` ``{mode, workflow_id, routing}``, ``resume`` (decisions on pending actions).
    """

    model_config = ConfigDict(extra="allow")

    mode: str | None = Field(default=None, description="automation|agent|agent_flow|code; routed when unset.")
    prompt: str | None = Field(default=None, description="What the user says (the plain form).")
    conversation_id: str | None = Field(default=None, description="Continue this conversation (the plain form).")
    workflow_id: str | None = Field(default=None, description="The workflow open beside the chat.")


@router.post(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "AG-UI events, one per SSE message."}},
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": ChatBody.model_json_schema()}}}},
)
async def chat(request: Request, access: Viewer, server: Server) -> StreamingResponse:
    """One turn of the copilot in one of its four modes, streamed as AG-UI events."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InputInvalid(f"the body is not JSON ({exc}); send RunAgentInput or {{mode, prompt}}") from None
    stream = await server.copilot.begin(actor_of(access), parse_chat_body(body))
    return StreamingResponse(sse(stream), media_type="text/event-stream", headers=SSE_HEADERS)


class DecisionBody(BaseModel):
    """The user's decision on a proposed action."""

    model_config = ConfigDict(extra="forbid")

    decision: str = Field(
        description="confirm, reject, defer (leave it pending), or apply (a proposed workflow taken onto the "
        "builder's canvas, unsaved)."
    )
    changes: dict[str, Any] | None = Field(
        default=None, description="Edits made while confirming: run_code {code, inputs}; run_workflow {input}."
    )


@router.post(
    "/conversations/{conversation_id}/actions/{action_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "AG-UI events of the decision's run."}},
)
async def decide(
    conversation_id: str, action_id: str, body: DecisionBody, access: Viewer, server: Server
) -> StreamingResponse:
    """Confirm or reject an action the copilot proposed; what it does streams back as an AG-UI run."""
    stream = await server.copilot.decide(actor_of(access), conversation_id, action_id, body.decision, body.changes)
    return StreamingResponse(sse(stream), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/conversations", response_model=Page[dict[str, Any]])
async def conversations(access: Viewer, server: Server, limit: Limit = 50, cursor: Cursor = None) -> Page[Any]:
    """Your conversations in this workspace, latest activity first."""
    rows = await server.copilot.conversations(actor_of(access), limit=limit, before=text_cursor(cursor))
    return Page(items=rows, next_cursor=encode_cursor(rows[-1]["id"]) if len(rows) == limit else None)


@router.get("/conversations/{conversation_id}")
async def conversation(conversation_id: str, access: Viewer, server: Server) -> dict[str, Any]:
    """A conversation with its messages (AG-UI shaped), its actions and state: what resuming it shows."""
    return await server.copilot.conversation(actor_of(access), conversation_id)


@router.delete("/conversations/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(conversation_id: str, access: Viewer, server: Server) -> Response:
    """Delete one of your conversations with its messages and actions."""
    await server.copilot.delete(actor_of(access), conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class SettingsBody(BaseModel):
    """The workspace's copilot."""

    model_config = ConfigDict(extra="forbid")

    llm: LLMChoice
    secrets: list[str] = Field(default_factory=list, description="Credentials its LLM calls are granted, by name.")
    code_runtime: str | None = Field(default=None, description="Code mode's runtime, e.g. 'code-wasi/wasi'.")
    agent: AgentDefaults = Field(default_factory=AgentDefaults)


@router.get("/settings", response_model=CopilotSettings)
async def get_settings(access: Viewer, server: Server) -> CopilotSettings:
    """The copilot's LLM, credentials (names only), code runtime and agent defaults in this workspace."""
    return await server.copilot.settings.get(access.workspace_id)


@router.put("/settings", response_model=CopilotSettings)
async def put_settings(body: SettingsBody, access: Owner, server: Server) -> CopilotSettings:
    """Set the workspace's copilot (owners)."""
    settings = CopilotSettings(**body.model_dump(), source="workspace")
    copilot = server.copilot
    await copilot.settings.put(access.workspace_id, settings, user_id=access.principal.user_id)
    return await copilot.settings.get(access.workspace_id)
