"""The agents API: run a task (a durable run), read its status, ask the router, list frameworks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from synthral.engine.worker import Worker
from synthral.store.db import Database
from synthral_sdk.testing_llm import OpenAIStandIn, Reply
from tests.support.api import PASSWORD, Api, make_state, serving


@pytest.fixture
def llm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as server:
        yield server


@pytest.fixture
async def api(database: Database, ai_home: Path, wheelhouse: Path) -> AsyncIterator[Api]:
    state, plugins = await make_state(database, ai_home, wheelhouse)
    identity = state.identity
    users = {role: (await identity.create_user(f"{role}@example.com", PASSWORD)).id
             for role in ("owner", "editor", "viewer", "outsider")}  # fmt: skip
    main = await identity.create_workspace("acme", "Acme", owner_id=users["owner"])
    other = await identity.create_workspace("globex", "Globex", owner_id=users["outsider"])
    await identity.add_member(main.id, users["editor"], "editor")
    await identity.add_member(main.id, users["viewer"], "viewer")
    worker = Worker(state.app.engine, concurrency=4, poll_interval=0.05)
    worker_task = asyncio.create_task(worker.run())
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=30.0) as http:
        tokens = {}
        for role in users:
            answer = await http.post("/auth/login", json={"email": f"{role}@example.com", "password": PASSWORD})
            tokens[role] = answer.json()["access_token"]
        yield Api(url, http, state, main.slug, other.slug, tokens, users)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await worker_task
    await state.app.ai.close()
    await state.oauth.close()
    await plugins.close()


def config(llm: OpenAIStandIn, **more: Any) -> dict[str, Any]:
    return {"llm": {"provider": "llm-openai-compatible/openai", "model": "gpt-test", "config": {"base_url": llm.url}},
            **more}  # fmt: skip


async def test_a_task_runs_durably_and_its_status_shows_routing_steps_and_output(api: Api, llm: OpenAIStandIn) -> None:
    llm.script(
        Reply.json({"tasks": ["answer"]}),
        Reply("42"),
        Reply("The answer is 42."),
    )
    request = {"task": "What is six times seven?", "config": config(llm, routing={"agent_type": "simple"})}
    started = await api.call("editor", "POST", "/agents/run", json=request)
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["status"] == "queued" and body["routing"]["framework"] == "agent-loops/tasklist"

    deadline = asyncio.get_running_loop().time() + 60
    while True:
        status = await api.call("viewer", "GET", f"/agents/status/{body['task_id']}")
        assert status.status_code == 200, status.text
        task = status.json()
        if task["status"] in {"completed", "failed", "budget_exceeded"} and task["execution_status"] in {
            "completed",
            "failed",
            "cancelled",
        }:  # the task's record ends a moment before its run does
            break
        assert asyncio.get_running_loop().time() < deadline, task
        await asyncio.sleep(0.1)

    assert task["status"] == "completed", task
    assert task["output_data"]["output"] == "The answer is 42." and task["execution_status"] == "completed"
    assert [line["kind"] for line in task["log"]][:2] == ["route", "llm_call"]
    assert task["routing"]["reason"].startswith("agent_type is simple")
    assert task["usage"]["llm_calls"] == 3
    outsider = await api.call("outsider", "GET", f"/agents/status/{body['task_id']}",
                              headers={"X-Workspace": api.other_workspace})  # fmt: skip
    assert outsider.status_code == 404


async def test_bad_input_gets_a_problem_naming_the_fix(api: Api, llm: OpenAIStandIn) -> None:
    unknown = await api.call("editor", "POST", "/agents/run",
                             json={"task": "x", "config": config(llm, framework="agent-nowhere/x")})  # fmt: skip
    bad_tool = await api.call("editor", "POST", "/agents/run",
                              json={"task": "x", "config": config(llm, tools=[{"name": "t"}])})  # fmt: skip

    assert unknown.status_code in {400, 409, 422} and "not an installed agent framework" in unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    assert bad_tool.status_code == 422 and "exactly one of 'node'" in bad_tool.text


async def test_the_router_can_be_asked_and_the_catalog_lists_installed_frameworks(api: Api) -> None:
    decision = await api.call("viewer", "POST", "/agents/switch/evaluate",
                              json={"routing": {"agent_self_fix": True, "user_prefers_copilot_ui": True}})  # fmt: skip
    catalog = await api.call("viewer", "GET", "/agents/catalog")

    assert decision.json()["framework"] == "agent-loops/selffix" and decision.json()["interface"] == "ag-ui"
    frameworks = {f["framework"]: f["styles"] for f in catalog.json()["frameworks"]}
    assert frameworks == {"agent-loops/tasklist": ["simple", "recursive"], "agent-loops/selffix": ["self_fix"],
                          "agent-loops/beliefgoal": ["belief_goal"]}  # fmt: skip


async def test_streamed_tokens_reach_the_websocket_as_step_events(api: Api, llm: OpenAIStandIn) -> None:
    llm.script(Reply("tokens on the wire", pieces=3))
    workflow = {"name": "streamed", "nodes": [{"id": "chat", "type": "llm/chat", "config": {"llm": config(llm)["llm"]},
                                               "input": {"prompt": "Say it"}}]}  # fmt: skip
    saved = (await api.call("editor", "POST", "/workflows", json=workflow)).json()
    url = api.url.replace("http://", "ws://") + "/api/v1/ws"
    tokens: list[str] = []
    async with connect(url) as socket:
        await socket.send(orjson.dumps({"type": "auth", "token": api.tokens["viewer"], "workspace": "acme"}).decode())
        assert orjson.loads(await socket.recv())["type"] == "ready"
        await socket.send(orjson.dumps({"type": "subscribe"}).decode())
        assert orjson.loads(await socket.recv())["type"] == "subscribed"
        await api.call("editor", "POST", f"/workflows/{saved['id']}/run", json={})
        completed = False
        async with asyncio.timeout(30):
            async for raw in socket:
                message = orjson.loads(raw)
                if message.get("event") == "step.event" and message["kind"] == "llm.token":
                    assert message["node_id"] == "chat"
                    tokens.append(message["data"]["text"])
                completed = completed or message.get("event") == "execution.completed"
                if completed and "".join(tokens) == "tokens on the wire":
                    break
    assert "".join(tokens) == "tokens on the wire"
