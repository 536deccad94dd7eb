"""WebSocket ``/api/agws``: the copilot's AG-UI runs over one socket (what the embeddable widget uses).

The client authenticates with an ``Authorization`` header or its first message,
``{"type": "auth", "token": "...", "workspace": "slug"}`` (an access token or an API key; a
key scoped to one workflow keeps the chat on it). The server answers ``{"type": "ready"}``.
Then each message starts one run and gets that run's AG-UI events back, each as
``{"type": "event", "event": {...}}``, then ``{"type": "done", "run_id": ...}``:

- ``{"type": "run", "input": <RunAgentInput, or {mode, prompt, conversation_id, workflow_id}>}``;
- ``{"type": "decide", "conversation_id", "action_id", "decision": "confirm|reject", "changes"}``.

A refused request is ``{"type": "error", "status", "code", "detail"}`` and the socket stays
open; the caller's role is read again for every message, and a token that stops being valid
or a membership that ends closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from synthral.api.chat_cors import allowed_origin
from synthral.api.problems import status_of
from synthral.api.state import ServerState
from synthral.errors import AuthenticationFailed, InputInvalid, SynthralError
from synthral.services.accounts import Principal
from synthral.services.copilot import Actor, CopilotService, RunStream, encode, parse_chat

__all__ = ["PATH", "bridge"]

PATH: Final = "/api/agws"
bridge = APIRouter(tags=["chat"])
AUTH_TIMEOUT: Final = 10.0
MAX_MESSAGE: Final = 256 * 1024
CLOSE_POLICY: Final = 1008


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _receive(websocket: WebSocket, timeout: float | None = None) -> dict[str, Any]:
    raw = await asyncio.wait_for(websocket.receive_text(), timeout)
    if len(raw) > MAX_MESSAGE:
        raise _Refused(f"messages are limited to {MAX_MESSAGE} bytes")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Refused("messages are JSON objects") from None
    if not isinstance(message, dict):
        raise _Refused("messages are JSON objects")
    return message


def _foreign(websocket: WebSocket) -> bool:
    """A page of another site opening the socket (no credentials are ambient here except in local mode)."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    return urlsplit(origin).netloc != websocket.headers.get("host", "")


def _refused_origin(server: ServerState, websocket: WebSocket) -> str | None:
    """Why a page's origin may not open the socket, or None (no page, the app's own, or an embedding site)."""
    if server.local:
        return "another site may not open the local app's socket" if _foreign(websocket) else None
    allowed = frozenset(server.app.settings.copilot.embed_origins)
    headers = websocket.headers
    if allowed_origin(headers.get("origin"), headers.get("host"), allowed) is False:
        return "this site may not open the chat socket; add its origin to SYNTHRAL_COPILOT_EMBED_ORIGINS"
    return None


@bridge.websocket(PATH)
async def agws(websocket: WebSocket) -> None:
    """Copilot runs as AG-UI events over a WebSocket."""
    server: ServerState = websocket.app.state.server
    if (reason := _refused_origin(server, websocket)) is not None:
        await websocket.close(CLOSE_POLICY, reason)
        return
    await websocket.accept()
    try:
        await _serve(server, websocket)
    except (WebSocketDisconnect, asyncio.CancelledError):
        return
    except _Refused as refused:
        with contextlib.suppress(Exception):
            await websocket.send_text(orjson.dumps({"type": "error", "status": 401, "detail": refused.reason}).decode())
            await websocket.close(CLOSE_POLICY, refused.reason[:120])
    except TimeoutError:
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_POLICY, "authenticate within 10 s")


async def _authenticate(server: ServerState, websocket: WebSocket) -> tuple[str | None, Principal, str | None]:
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token: str | None = header[7:].strip()
        wanted = websocket.headers.get("x-workspace")
    else:
        first = await _receive(websocket, AUTH_TIMEOUT)
        if first.get("type") == "auth" and isinstance(first.get("token"), str):
            token, wanted = first["token"], first.get("workspace")
        elif server.local and first.get("type") == "auth":
            token, wanted = None, None
        else:
            raise _Refused('authenticate first: {"type": "auth", "token": "...", "workspace": "slug"}')
    try:
        principal = await (server.identity.authenticate(token) if token else server.identity.local_principal())
    except AuthenticationFailed as exc:
        raise _Refused(exc.message) from None
    return token, principal, wanted if isinstance(wanted, str) else None


async def _workspace(server: ServerState, principal: Principal, wanted: str | None) -> str:
    memberships = await server.identity.workspaces_of(principal.user_id)
    if principal.workspace_id is not None:
        memberships = [(w, r) for w, r in memberships if w.id == principal.workspace_id]
    for row, _ in memberships:
        if (wanted is None and len(memberships) == 1) or wanted in (row.id, row.slug):
            return str(row.id)
    raise _Refused("no such workspace for you; name one you belong to in 'workspace'")


async def _actor(server: ServerState, token: str | None, principal: Principal, workspace_id: str) -> Actor:
    """The caller as of now: the token still valid, the role read again."""
    if token is not None:
        try:
            await server.identity.authenticate(token)
        except AuthenticationFailed as exc:
            raise _Refused(exc.message) from None
    role = await server.identity.role_in(principal.user_id, workspace_id)
    if role is None:
        raise _Refused("you are no longer a member of this workspace")
    return Actor(workspace_id, principal.user_id, role, principal.workflow_id)


async def _serve(server: ServerState, websocket: WebSocket) -> None:
    token, principal, wanted = await _authenticate(server, websocket)
    workspace_id = await _workspace(server, principal, wanted)
    actor = await _actor(server, token, principal, workspace_id)
    ready = {"type": "ready", "workspace_id": workspace_id, "role": actor.role, "workflow_id": principal.workflow_id}
    await websocket.send_text(orjson.dumps(ready).decode())
    copilot = server.copilot
    while True:
        message = await _receive(websocket)
        actor = await _actor(server, token, principal, workspace_id)
        try:
            stream = await _start(copilot, actor, message)
        except SynthralError as exc:
            problem = {"type": "error", "status": status_of(exc), "code": exc.code, "detail": exc.message}
            await websocket.send_text(orjson.dumps(problem).decode())
            continue
        async for event in stream:
            await websocket.send_text('{"type":"event","event":' + encode(event) + "}")
        await websocket.send_text(orjson.dumps({"type": "done", "run_id": stream.run_id}).decode())


async def _start(copilot: CopilotService, actor: Actor, message: dict[str, Any]) -> RunStream:
    kind = message.get("type")
    if kind == "run":
        return await copilot.begin(actor, parse_chat(message.get("input")))
    if kind == "decide":
        conversation_id, action_id = message.get("conversation_id"), message.get("action_id")
        changes = message.get("changes") if isinstance(message.get("changes"), dict) else None
        if not isinstance(conversation_id, str) or not isinstance(action_id, str):
            raise _bad("a decision names conversation_id and action_id")
        return await copilot.decide(actor, conversation_id, action_id, str(message.get("decision") or ""), changes)
    raise _bad('send {"type": "run", "input": {...}} or {"type": "decide", ...}')


def _bad(detail: str) -> SynthralError:
    return InputInvalid(detail)
