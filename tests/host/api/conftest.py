"""A real server for API tests: uvicorn on a loopback port, a worker, both database backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from synthral.api.app import assemble, create_app
from synthral.api.limits import Limits
from synthral.api.state import ServerState
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing, generate_key
from synthral.security.passwords import Passwords
from synthral.services.app import App, ai_services, secret_source, workflow_runner
from synthral.services.plugins import PluginService
from synthral.services.secrets import CredentialService
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"
CHEAP_PASSWORDS = Passwords(time_cost=1, memory_kib=8192, parallelism=1)
"""argon2id at a test's cost: the hashing itself is tested with the real parameters elsewhere."""
ROLES = ("owner", "editor", "viewer", "outsider", "anonymous")


@dataclass
class Api:
    """A running server and signed-in clients of every role."""

    url: str
    http: httpx.AsyncClient
    state: ServerState
    workspace: str
    other_workspace: str
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str, *, workspace: str | None = None) -> dict[str, str]:
        """Headers acting as ``role`` in the main workspace (the outsider names it too)."""
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[role]}", "X-Workspace": workspace or self.workspace}

    async def call(self, role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)


@contextlib.asynccontextmanager
async def serving(state: ServerState) -> AsyncIterator[str]:
    """Serve the API on a free loopback port; yield its base URL."""
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def make_state(
    database: Database, home: Path, wheelhouse: Path, *, local: bool = False, limits: Limits | None = None
) -> tuple[ServerState, PluginHost]:
    settings = make_settings(home, wheelhouse)
    plugins = PluginHost(settings)
    keyring = KeyRing.single(generate_key())
    credentials = CredentialService(database, keyring)
    ai = ai_services(database, plugins, settings)
    engine = Engine(database, plugins, lease_seconds=5.0, secrets=secret_source(plugins, credentials), step_services=ai)
    workflows = WorkflowService(database, plugins, engine)
    ai.agents.workflows = workflow_runner(workflows)
    host = App(
        settings, database, plugins, engine, workflows, PluginService(plugins, database), keyring, credentials, ai
    )
    state = assemble(host, local=local, public_url="http://127.0.0.1:1", limits=limits, passwords=CHEAP_PASSWORDS)
    return state, plugins


@pytest.fixture
async def api(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[Api]:
    async with running_api(database, noop_home, wheelhouse) as running:
        yield running


@pytest.fixture
async def code_api(database: Database, code_home: Path, wheelhouse: Path) -> AsyncIterator[Api]:
    """The API over a home with the code-bwrap runtime installed."""
    async with running_api(database, code_home, wheelhouse) as running:
        yield running


@contextlib.asynccontextmanager
async def running_api(database: Database, home: Path, wheelhouse: Path) -> AsyncIterator[Api]:
    """A server with a worker over ``home``, users of every role signed in, two workspaces."""
    state, plugins = await make_state(database, home, wheelhouse)
    identity = state.identity
    users = {}
    for role in ("owner", "editor", "viewer", "outsider"):
        users[role] = (await identity.create_user(f"{role}@example.com", PASSWORD)).id
    main = await identity.create_workspace("acme", "Acme", owner_id=users["owner"])
    other = await identity.create_workspace("globex", "Globex", owner_id=users["outsider"])
    await identity.add_member(main.id, users["editor"], "editor")
    await identity.add_member(main.id, users["viewer"], "viewer")
    worker = Worker(state.app.engine, concurrency=8, poll_interval=0.1)
    worker_task = asyncio.create_task(worker.run())
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=30.0) as http:
        tokens = {}
        for role in users:
            answer = await http.post("/auth/login", json={"email": f"{role}@example.com", "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            tokens[role] = answer.json()["access_token"]
        yield Api(url, http, state, main.slug, other.slug, tokens, users)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await worker_task
    await state.oauth.close()
    await plugins.close()


async def wait_for(api: Api, execution_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the status route until the execution reaches one of ``statuses`` (default: terminal)."""
    wanted = set(statuses) or {"completed", "failed", "cancelled"}
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await api.call("viewer", "GET", f"/executions/{execution_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["execution"]["status"] in wanted:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"execution {execution_id} is {body['execution']['status']}, wanted {wanted}")
        await asyncio.sleep(0.05)
