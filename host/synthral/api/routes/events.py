"""WebSocket ``/api/v1/ws``: live execution events for what the subscriber may see.

The client authenticates with its first message (or an ``Authorization`` header):
``{"type": "auth", "token": "...", "workspace": "slug"}``; then subscribes:
``{"type": "subscribe"}`` for the whole workspace or ``{"type": "subscribe", "execution_id": "..."}``.
Every message is checked against the caller's current role; a token that expires or a
membership that ends closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from synthral.api.local import LAUNCH_BEARER
from synthral.api.state import ServerState
from synthral.errors import AuthenticationFailed, SynthralError
from synthral.services.accounts import Principal
from synthral.services.events import Subscription

__all__ = ["router"]

router = APIRouter(tags=["events"])
POLL_SECONDS = 0.25
RECHECK_SECONDS = 30.0
AUTH_TIMEOUT = 10.0
MAX_MESSAGE = 4096
CLOSE_POLICY = 1008  # policy violation: not authenticated or not allowed


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


async def _workspace(server: ServerState, principal: Principal, wanted: str | None) -> tuple[str, str]:
    memberships = await server.identity.workspaces_of(principal.user_id)
    if principal.workspace_id is not None:
        memberships = [(w, r) for w, r in memberships if w.id == principal.workspace_id]
    for row, role in memberships:
        if (wanted is None and len(memberships) == 1) or wanted in (row.id, row.slug):
            return row.id, role
    raise _Refused("no such workspace for you; name one you belong to in 'workspace'")


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    """Stream execution events of one workspace (or one execution) as JSON messages."""
    server: ServerState = websocket.app.state.server
    await websocket.accept()
    try:
        await _serve(server, websocket)
    except (WebSocketDisconnect, asyncio.CancelledError):
        return
    except _Refused as refused:
        with contextlib.suppress(Exception):
            await websocket.send_text(orjson.dumps({"type": "error", "detail": refused.reason}).decode())
            await websocket.close(CLOSE_POLICY, refused.reason[:120])
    except TimeoutError:
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_POLICY, "authenticate within 10 s")


async def _authenticate(
    server: ServerState, websocket: WebSocket
) -> tuple[Principal, str | None, str | None, dict[str, Any] | None]:
    """Who connects: principal, token to check again (None: the local user), workspace, pending message.

    The pending message is, in local mode, a first message that subscribed instead of ``auth``.
    Nothing is written and no principal exists before a credential has been checked: in
    server mode a missing or empty token is refused; only in local mode, where the local
    guard has already checked the launch token, does a connection without one act as the
    local user.
    """
    header = websocket.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        token, wanted = token.strip(), websocket.headers.get("x-workspace")
        if server.local and websocket.scope.get("state", {}).get(LAUNCH_BEARER):
            return await server.identity.local_principal(), None, wanted, None
        if scheme.lower() != "bearer" or not token:
            raise _Refused("send 'Authorization: Bearer <access token or API key>' or an auth message first")
    else:
        first = await _receive(websocket, AUTH_TIMEOUT)
        presented, wanted = first.get("token"), first.get("workspace")
        if first.get("type") != "auth" or not isinstance(presented, str) or not presented:
            if not server.local:
                raise _Refused('authenticate first: {"type": "auth", "token": "...", "workspace": "slug"}')
            pending = first if first.get("type") == "subscribe" else None
            return await server.identity.local_principal(), None, None, pending
        token = presented
    try:
        principal = await server.identity.authenticate(token)
    except AuthenticationFailed as exc:
        raise _Refused(exc.message) from None
    return principal, token, wanted if isinstance(wanted, str) else None, None


async def _serve(server: ServerState, websocket: WebSocket) -> None:
    principal, token, wanted, pending = await _authenticate(server, websocket)
    if principal.workflow_id is not None:
        raise _Refused("this API key is scoped to one workflow's chat copilot; it cannot watch the workspace")
    workspace_id, _ = await _workspace(server, principal, wanted)
    await websocket.send_text(orjson.dumps({"type": "ready", "workspace_id": workspace_id}).decode())
    subscription: Subscription | None = None
    if pending is not None:
        subscription = await _subscribe(server, workspace_id, pending)
        await websocket.send_text(
            orjson.dumps({"type": "subscribed", "execution_id": subscription.execution_id}).decode()
        )
    checked = time.monotonic()
    inbox: asyncio.Task[dict[str, Any]] = asyncio.create_task(_receive(websocket))
    try:
        while True:
            if subscription is None:
                await asyncio.wait({inbox}, timeout=POLL_SECONDS)
                events: list[dict[str, Any]] = []
            else:
                events = await subscription.next(POLL_SECONDS)
                if subscription.overflowed:
                    raise _Refused("you fell too far behind the events; reconnect and subscribe again")
            if time.monotonic() - checked > RECHECK_SECONDS:
                await _recheck(server, token, principal, workspace_id)
                checked = time.monotonic()
            for event in events:
                await websocket.send_text(orjson.dumps({"type": "event", **event}).decode())
            if inbox.done():
                message = inbox.result()
                await _recheck(server, token, principal, workspace_id)  # every message is authorised anew
                replaced = await _subscribe(server, workspace_id, message)
                if subscription is not None:
                    server.events.unsubscribe(subscription)
                subscription = replaced
                await websocket.send_text(
                    orjson.dumps({"type": "subscribed", "execution_id": subscription.execution_id}).decode()
                )
                inbox = asyncio.create_task(_receive(websocket))
    finally:
        if subscription is not None:
            server.events.unsubscribe(subscription)
        inbox.cancel()
        with contextlib.suppress(BaseException):
            await inbox


async def _recheck(server: ServerState, token: str | None, principal: Principal, workspace_id: str) -> None:
    if token is not None:
        try:
            await server.identity.authenticate(token)
        except AuthenticationFailed as exc:
            raise _Refused(exc.message) from None
    if await server.identity.role_in(principal.user_id, workspace_id) is None:
        raise _Refused("you are no longer a member of this workspace")


async def _subscribe(server: ServerState, workspace_id: str, message: dict[str, Any]) -> Subscription:
    if message.get("type") != "subscribe":
        raise _Refused('send {"type": "subscribe"} or {"type": "subscribe", "execution_id": "..."}')
    execution_id = message.get("execution_id")
    if execution_id is not None:
        if not isinstance(execution_id, str):
            raise _Refused("execution_id is a string")
        try:
            await server.app.workflows.execution(execution_id, workspace_id=workspace_id)
        except SynthralError:
            raise _Refused(f"no execution {execution_id[:64]!r} in this workspace") from None
    return await server.events.subscribe(workspace_id, execution_id)
