"""The gate: authentication before parsing, body and nesting caps, rate limits with Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from synthral.api.app import close_server
from synthral.api.limits import json_depth_exceeds
from synthral.store.db import Database
from tests.support.api import PASSWORD, Api, make_state, serving

pytestmark = pytest.mark.slow


async def test_nothing_is_parsed_or_evaluated_before_authentication(api: Api) -> None:
    escape = {"name": "x", "nodes": [{"id": "a", "type": "core/set", "input": {"v": "{{ ''.__class__.__mro__ }}"}}]}
    for body in (b"{not json", b'{"a":' * 5000):
        answer = await api.http.post("/workflows", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 401, answer.text  # not 422: the body was never parsed
    assert (await api.http.post("/workflows", json=escape)).status_code == 401
    assert (
        await api.http.put("/workflows/x", json=escape, headers={"Authorization": "Bearer forged"})
    ).status_code == 401


async def test_oversized_and_deeply_nested_bodies_are_refused(api: Api) -> None:
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    answer = await api.call("editor", "POST", "/workflows", content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]
    deep = b"[" * 100 + b"]" * 100
    nested = await api.call("editor", "POST", "/workflows", content=deep, headers={"content-type": "application/json"})
    assert nested.status_code == 422 and nested.json()["code"] == "json_too_deep"


def test_nesting_is_measured_outside_strings() -> None:
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[["}', 3)
    assert json_depth_exceeds(b'{"a": [[[1]]]}', 3)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[", "b": [[1]]}', 3)


@pytest.fixture
async def strict(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[httpx.AsyncClient]:
    limits = {"ip_rate": 0.001, "ip_burst": 20, "login_rate": 0.001, "login_burst": 3}
    state, plugins = await make_state(database, noop_home, wheelhouse, limits=limits)
    await state.identity.create_user("ada@example.com", PASSWORD)
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1") as http:
        yield http
    await close_server(state)
    await plugins.close()


async def test_rate_limits_answer_429_with_retry_after(strict: httpx.AsyncClient) -> None:
    statuses = []
    for _ in range(4):
        answer = await strict.post("/auth/login", json={"email": "ada@example.com", "password": "wrong password!!"})
        statuses.append(answer.status_code)
    assert statuses == [401, 401, 401, 429]
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["content-type"] == "application/problem+json"
    for _ in range(20):
        answer = await strict.get("/health")
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1
