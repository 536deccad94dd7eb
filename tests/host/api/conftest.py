"""A real server for API tests: uvicorn on a loopback port, a worker, both database backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from synthral.api.app import close_server
from synthral.engine.worker import Worker
from synthral.store.db import Database
from tests.support.api import PASSWORD, Api, make_state, serving


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
    await close_server(state)
    await plugins.close()
