"""The server outlives a PostgreSQL restart: 503 with Retry-After meanwhile, said once in the log."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthral.runtime import HostRuntime
from tests.support.api import CHEAP_PASSWORDS, PASSWORD
from tests.support.engine import chain
from tests.support.postgres import PostgresServer
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    yield server
    server.stop()


async def test_requests_during_a_postgres_outage_get_503_and_the_server_carries_on(
    own_postgres: PostgresServer, noop_home: Path, wheelhouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_postgres.create_database(f"t_{uuid.uuid4().hex[:10]}")
    settings = make_settings(noop_home, wheelhouse).replace(engine={"database_url": url}, server={"port": 0})
    runtime = HostRuntime(settings, api=True, worker=True, scheduler=True, passwords=CHEAP_PASSWORDS)
    with caplog.at_level(logging.WARNING):
        async with runtime:
            assert runtime.server is not None and runtime.url is not None
            user = await runtime.server.identity.create_user("ada@example.com", PASSWORD)
            await runtime.server.identity.create_workspace("acme", "Acme", owner_id=user.id)
            async with httpx.AsyncClient(base_url=runtime.url + "/api/v1", timeout=60) as http:
                login = await http.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
                http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
                assert (await http.get("/workflows")).status_code == 200

                own_postgres.halt()
                for _ in range(3):
                    down = await http.get("/workflows")
                    assert down.status_code == 503, down.text
                    assert down.headers["content-type"] == "application/problem+json"
                    assert down.headers["retry-after"] == "5"
                    body = down.json()
                    assert body["code"] == "database_unavailable" and "cannot be reached" in body["detail"]
                    assert "hunter" not in body["detail"] and "Traceback" not in down.text
                await asyncio.sleep(2)
                own_postgres.resume()

                assert (await http.get("/workflows")).status_code == 200
                made = await http.post("/workflows", json=chain("after", {"id": "a", "type": "core/set"}))
                run = await http.post(f"/workflows/{made.json()['id']}/run", json={})
                view = await runtime.wait_for(run.json()["execution_id"], timeout=60)
                assert view.status == "completed"
    lines = [r.getMessage() for r in caplog.records]
    assert sum("is unavailable" in line for line in lines) == 1, lines  # one process, one outage, one line
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], lines  # no traceback for an outage
