"""A real server for API tests: uvicorn on a loopback port, clients of every role."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from synthral.api.app import assemble, close_server, create_app
from synthral.api.state import ServerState
from synthral.config import Settings
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing, generate_key
from synthral.security.passwords import Passwords
from synthral.services.app import build_app, open_app
from synthral.store.db import Database
from tests.support.settings import make_settings

__all__ = ["CHEAP_PASSWORDS", "PASSWORD", "ROLES", "Api", "make_state", "open_server", "serving", "wait_for"]

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


@contextlib.asynccontextmanager
async def open_server(settings: Settings, *, local: bool = False) -> AsyncIterator[ServerState]:
    """The host opened from ``settings`` as a server process opens it, with the API's services (not listening)."""
    async with open_app(settings, local=local) as host:
        state = assemble(host, local=local, passwords=CHEAP_PASSWORDS)
        try:
            yield state
        finally:
            await close_server(state)


async def make_state(
    database: Database, home: Path, wheelhouse: Path, *, local: bool = False, limits: dict[str, float] | None = None
) -> tuple[ServerState, PluginHost]:
    """The server's services over ``database`` and a plugin home (``limits`` overrides some request limits)."""
    settings = make_settings(home, wheelhouse).replace(engine={"lease_seconds": 5.0}, limits=limits or {})
    plugins = PluginHost(settings)
    host = build_app(settings, database, plugins, KeyRing.single(generate_key()))
    state = assemble(host, local=local, public_url="http://127.0.0.1:1", passwords=CHEAP_PASSWORDS)
    return state, plugins


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
