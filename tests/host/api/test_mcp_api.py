"""Workflows as MCP tools over streamable HTTP at /api/v1/mcp, called with the official mcp client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.support.api import Api

WORKFLOW = {
    "name": "greet",
    "description": "Greet someone",
    "triggers": [{"type": "manual", "input_schema": {"type": "object", "properties": {"who": {"type": "string"}},
                                                     "required": ["who"]}}],
    "nodes": [{"id": "hello", "type": "core/set", "config": {"values": {"greeting": "hello"}},
               "input": {"data": {"who": "{{ trigger.who }}"}}}],
}  # fmt: skip


async def api_key(api: Api, role: str, workspace: str | None = None) -> str:
    headers = {"X-Workspace": workspace} if workspace else {}
    answer = await api.call(role, "POST", "/auth/api-keys", json={"name": f"mcp-{role}"}, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


@asynccontextmanager
async def session(api: Api, key: str) -> AsyncIterator[ClientSession]:
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    async with (
        client,
        streamable_http_client(api.url + "/api/v1/mcp", http_client=client) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        yield mcp


async def test_an_exposed_workflow_is_listed_with_its_schema_and_runs_for_an_editor(api: Api) -> None:
    made = await api.call("editor", "POST", "/workflows", json=WORKFLOW)
    assert made.status_code in {200, 201}, made.text
    exposed = await api.call("editor", "PUT", "/mcp/tools/greet", json={"workflow": "greet"})
    assert exposed.status_code == 200, exposed.text

    async with session(api, await api_key(api, "editor")) as mcp:
        tools = (await mcp.list_tools()).tools
        result = await mcp.call_tool("greet", {"who": "Ada"})
        bad = await mcp.call_tool("greet", {})

    assert [(t.name, t.description) for t in tools] == [("greet", "Greet someone")]
    assert tools[0].input_schema["required"] == ["who"]
    assert not result.is_error
    assert result.structured_content["output"]["hello"]["data"] == {"who": "Ada", "greeting": "hello"}
    assert bad.is_error and "'who' is a required property" in bad.content[0].text


async def test_a_viewer_key_lists_but_may_not_run_and_other_workspaces_see_nothing(api: Api) -> None:
    await api.call("editor", "POST", "/workflows", json=WORKFLOW)
    await api.call("editor", "PUT", "/mcp/tools/greet", json={"workflow": "greet"})

    async with session(api, await api_key(api, "viewer")) as mcp:
        listed = [t.name for t in (await mcp.list_tools()).tools]
        refused = await mcp.call_tool("greet", {"who": "Ada"})
    async with session(api, await api_key(api, "outsider", api.other_workspace)) as mcp:
        elsewhere = [t.name for t in (await mcp.list_tools()).tools]

    assert listed == ["greet"] and refused.is_error and "needs the editor role" in refused.content[0].text
    assert elsewhere == []


async def test_without_a_key_nothing_is_parsed(api: Api) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(api.url + "/api/v1/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


async def test_tool_management_needs_the_editor_role_and_names_the_fix(api: Api) -> None:
    await api.call("editor", "POST", "/workflows", json=WORKFLOW)
    viewer = await api.call("viewer", "PUT", "/mcp/tools/greet", json={"workflow": "greet"})
    missing = await api.call("editor", "PUT", "/mcp/tools/x", json={"workflow": "nope"})
    bad_name = await api.call("editor", "PUT", "/mcp/tools/1bad", json={"workflow": "greet"})
    gone = await api.call("editor", "DELETE", "/mcp/tools/never")

    assert viewer.status_code == 403
    assert missing.status_code == 404
    assert bad_name.status_code in {400, 422} and "must start with a letter" in bad_name.text
    assert gone.status_code == 404
    listing: dict[str, Any] = (await api.call("viewer", "GET", "/mcp/tools")).json()
    assert listing == {"items": [], "next_cursor": None}
