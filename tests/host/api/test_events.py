"""Live execution events over the WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support.api import Api
from tests.support.engine import chain

pytestmark = pytest.mark.slow


async def _events_until(socket: ClientConnection, last: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        async for raw in socket:
            message = orjson.loads(raw)
            if message["type"] == "event":
                events.append(message)
                if message["event"] == last:
                    return events
    raise AssertionError(f"the socket closed before {last}: {events}")


async def test_a_subscriber_sees_a_run_step_by_step(api: Api) -> None:
    workflow = chain(
        "watched",
        {"id": "one", "type": "core/set", "config": {"values": {"a": 1}}},
        {"id": "two", "type": "noop/echo", "input": {"value": "x"}},
    )
    saved = (await api.call("editor", "POST", "/workflows", json=workflow)).json()
    url = api.url.replace("http://", "ws://") + "/api/v1/ws"
    async with connect(url) as socket:
        await socket.send(orjson.dumps({"type": "auth", "token": api.tokens["viewer"], "workspace": "acme"}).decode())
        assert orjson.loads(await socket.recv())["type"] == "ready"
        await socket.send(orjson.dumps({"type": "subscribe"}).decode())
        assert orjson.loads(await socket.recv())["type"] == "subscribed"
        run = (await api.call("editor", "POST", f"/workflows/{saved['id']}/run", json={})).json()
        events = await _events_until(socket, "execution.completed")
    mine = [e for e in events if e["execution_id"] == run["execution_id"]]
    kinds = [e["event"] for e in mine]
    assert kinds[-1] == "execution.completed"
    for node in ("one", "two"):
        node_events = [e["event"] for e in mine if e.get("node_id") == node]
        assert node_events == ["step.started", "step.finished"], (node, kinds)


async def test_a_subscription_to_another_workspaces_run_is_refused(api: Api) -> None:
    own = api.headers("outsider", workspace="globex")
    theirs = await api.http.post("/workflows", json=chain("theirs", {"id": "a", "type": "core/set"}), headers=own)
    run = (await api.http.post(f"/workflows/{theirs.json()['id']}/run", json={}, headers=own)).json()
    url = api.url.replace("http://", "ws://") + "/api/v1/ws"
    async with connect(url) as socket:
        await socket.send(orjson.dumps({"type": "auth", "token": api.tokens["viewer"], "workspace": "acme"}).decode())
        assert orjson.loads(await socket.recv())["type"] == "ready"
        await socket.send(orjson.dumps({"type": "subscribe", "execution_id": run["execution_id"]}).decode())
        refused = orjson.loads(await socket.recv())
    assert refused["type"] == "error" and "no execution" in refused["detail"]


async def _user_and_workspace_count(api: Api) -> tuple[int, int]:
    local_user = await api.state.identity.user_id_by_email("local@localhost")
    local_workspace = await api.state.identity.workspace_by_slug("local")
    return int(local_user is not None), int(local_workspace is not None)


@pytest.mark.parametrize(
    "how",
    [
        {"message": {"type": "auth", "token": ""}},
        {"message": {"type": "auth"}},
        {"message": {"type": "subscribe"}},
        {"headers": {"Authorization": "Bearer "}},
        {"headers": {"Authorization": "Bearer"}},
        {"headers": {"Authorization": "Basic b3duZXI6cGFzcw=="}},
    ],
)
async def test_a_server_mode_socket_without_a_token_is_refused_and_writes_nothing(
    api: Api, how: dict[str, Any]
) -> None:
    url = api.url.replace("http://", "ws://") + "/api/v1/ws"
    async with connect(url, additional_headers=how.get("headers", {})) as socket:
        if "message" in how:
            await socket.send(orjson.dumps(how["message"]).decode())
        answer = orjson.loads(await socket.recv())
        assert answer["type"] == "error", answer
        await socket.wait_closed()
    assert socket.close_code == 1008
    assert await _user_and_workspace_count(api) == (0, 0)  # no local@localhost, no `local` workspace
