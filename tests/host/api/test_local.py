"""Local mode is driven only by the app itself: Host allow-list, launch token, Origin check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from synthral.api.app import create_app
from synthral.api.local import COOKIE
from synthral.api.state import ServerState
from synthral.store.db import Database
from tests.support.api import make_state, serving
from tests.support.engine import chain

pytestmark = pytest.mark.slow

STATE_CHANGING = {"post", "put", "patch", "delete"}


@dataclass
class Local:
    url: str
    port: int
    token: str
    state: ServerState
    http: httpx.AsyncClient  # no credentials of its own

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.token}"}

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def local(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[Local]:
    state, plugins = await make_state(database, noop_home, wheelhouse, local=True)
    assert state.launch_token
    async with serving(state) as url, httpx.AsyncClient(base_url=url, follow_redirects=False) as http:
        yield Local(url, int(url.rsplit(":", 1)[1]), state.launch_token, state, http)
    await state.oauth.close()
    await plugins.close()


def _state_changing_routes(state: ServerState) -> list[tuple[str, str]]:
    schema = create_app(state).openapi()
    routes = []
    for path, operations in schema["paths"].items():
        for method in operations:
            if method in STATE_CHANGING:
                routes.append((method.upper(), re.sub(r"\{\w+\}", "x", path)))
    return routes


async def test_without_the_launch_token_nothing_answers(local: Local) -> None:
    for path in ("/", "/api/v1/health", "/api/v1/auth/me", "/api/v1/credentials", "/api/v1/openapi.json"):
        answer = await local.http.get(path)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "launch_token_required"
        assert "serve --local" in answer.json()["detail"]
    wrong = await local.http.get("/api/v1/auth/me", params={"token": "guessed"})
    assert wrong.status_code == 401 and "not this launch's" in wrong.json()["detail"]
    forged_cookie = await local.http.get("/api/v1/auth/me", headers={"Cookie": f"{COOKIE}=guessed"})
    assert forged_cookie.status_code == 401
    forged_bearer = await local.http.get("/api/v1/workflows", headers={"Authorization": "Bearer forged"})
    assert forged_bearer.status_code == 401


async def test_the_launch_url_sets_an_http_only_strict_cookie_and_drops_the_token(local: Local) -> None:
    opened = await local.http.get("/", params={"token": local.token, "tab": "runs"})
    assert opened.status_code == 302
    assert opened.headers["location"] == "/?tab=runs"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={local.token};")
    assert {part.strip() for part in cookie.split(";")[1:]} >= {"HttpOnly", "SameSite=Strict", "Path=/"}
    me = await local.http.get("/api/v1/auth/me", headers={"Cookie": cookie.split(";")[0]})
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["method"] == "local" and body["workspaces"][0]["slug"] == "local"
    assert body["workspaces"][0]["role"] == "owner"
    # An API request carrying ?token= is answered (and gets the cookie too).
    api = await local.http.get("/api/v1/workflows", params={"token": local.token})
    assert api.status_code == 200 and api.headers["set-cookie"].startswith(f"{COOKIE}=")


async def test_the_launch_token_works_as_a_bearer_header(local: Local) -> None:
    headers = {"Authorization": f"Bearer {local.token}"}
    me = await local.http.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["method"] == "local"
    assert me.headers["set-cookie"] == f"{COOKIE}={local.token}; HttpOnly; SameSite=Strict; Path=/"
    made = await local.http.post("/api/v1/workflows", json=chain("by-bearer", {"id": "a", "type": "core/set"}),
                                 headers=headers)  # fmt: skip
    assert made.status_code == 201, made.text


async def test_a_rebinding_host_is_refused_even_with_the_token(local: Local) -> None:
    for host in (f"evil.example:{local.port}", "evil.example", f"127.0.0.1:{local.port + 1}", "127.0.0.1", ""):
        for path in ("/api/v1/credentials", "/api/v1/auth/me", "/"):
            answer = await local.http.get(path, headers={**local.cookie, "Host": host})
            assert answer.status_code == 403, (host, path, answer.text)
            assert answer.json()["code"] == "host_not_allowed"
    started = await local.http.post(
        "/api/v1/workflows",
        json=chain("rebound", {"id": "a", "type": "core/set"}),
        headers={**local.cookie, "Host": f"rebind.example:{local.port}"},
    )
    assert started.status_code == 403
    for name in ("127.0.0.1", "localhost", "[::1]", "LOCALHOST"):
        host = f"{name}:{local.port}"
        answer = await local.http.get("/api/v1/auth/me", headers={**local.cookie, "Host": host})
        assert answer.status_code == 200


async def test_a_foreign_origin_is_refused_on_every_state_changing_route(local: Local) -> None:
    routes = _state_changing_routes(local.state)
    assert len(routes) > 20  # the whole API, read from its own schema
    foreign = ("http://evil.example", f"http://127.0.0.1:{local.port + 1}", "null", f"https://127.0.0.1:{local.port}")
    for method, path in routes:
        for origin in foreign:
            answer = await local.http.request(
                method, path, headers={**local.cookie, "Origin": origin}, json={"name": "x"}
            )
            assert answer.status_code == 403, (method, path, origin, answer.text)
            assert answer.json()["code"] == "origin_not_allowed"
    listed = await local.http.get("/api/v1/workflows", headers={**local.cookie, "Origin": "http://evil.example"})
    assert listed.status_code == 200 and listed.json()["items"] == []  # nothing was created; reading stays allowed


async def test_the_apps_own_origin_may_change_things(local: Local) -> None:
    for origin in (local.origin, f"http://localhost:{local.port}"):
        made = await local.http.post(
            "/api/v1/workflows",
            json=chain(f"own-{origin[-5:]}-{origin[7:10]}", {"id": "a", "type": "core/set"}),
            headers={**local.cookie, "Origin": origin},
        )
        assert made.status_code == 201, made.text


async def test_cross_origin_form_posts_install_nothing(local: Local, fixture_wheels: dict[str, Path]) -> None:
    wheel = fixture_wheels["noop-2"]
    files = {"wheel": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
    # A cross-site page: the SameSite=Strict cookie is not sent, so there is no token.
    cross_site = await local.http.post("/api/v1/plugins", files=files, headers={"Origin": "http://evil.example"})
    assert cross_site.status_code in {401, 403}
    no_origin = await local.http.post("/api/v1/plugins", files=files)
    assert no_origin.status_code == 401
    # A page on another local port is same-site: the cookie is sent, the Origin gives it away.
    same_site = await local.http.post(
        "/api/v1/plugins", files=files, headers={**local.cookie, "Origin": f"http://localhost:{local.port + 7}"}
    )
    assert same_site.status_code == 403
    urlencoded = await local.http.post(
        "/api/v1/plugins", data={"spec": "http==0.1.0"}, headers={**local.cookie, "Origin": "http://evil.example"}
    )
    assert urlencoded.status_code == 403
    versions = [info.version for info in local.state.app.plugin_service.info("noop")]
    assert "2.0.0" not in versions
    # The app itself, with its token and origin, gets through to the route (which checks the spec).
    own = await local.http.post(
        "/api/v1/plugins", data={"spec": "not a pin"}, headers={**local.cookie, "Origin": local.origin}
    )
    assert own.status_code == 422 and "not a pin" in own.json()["detail"]


async def _first(url: str, **kwargs: Any) -> dict[str, Any]:
    async with connect(url, **kwargs) as socket:
        await socket.send(orjson.dumps({"type": "subscribe"}).decode())
        message: dict[str, Any] = orjson.loads(await socket.recv())
        return message


async def test_the_websocket_needs_the_token_the_host_and_the_origin(local: Local) -> None:
    url = local.url.replace("http://", "ws://") + "/api/v1/ws"
    with pytest.raises(InvalidStatus) as no_token:
        await _first(url)
    assert no_token.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as foreign:
        await _first(url, additional_headers=local.cookie, origin="http://evil.example")  # type: ignore[arg-type]
    assert foreign.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as rebound:
        await _first(
            url.replace("127.0.0.1", "localhost"),
            additional_headers={**local.cookie, "Host": f"evil.example:{local.port}"},
        )
    assert rebound.value.response.status_code == 403
    ready = await _first(url, additional_headers=local.cookie, origin=local.origin)  # type: ignore[arg-type]
    assert ready["type"] == "ready"
    assert await _first(url + f"?token={local.token}") == ready
    assert await _first(url, additional_headers={"Authorization": f"Bearer {local.token}"}) == ready


def test_serve_local_prints_the_launch_url_and_it_opens_the_app(tmp_path: Path) -> None:
    env = {**os.environ, "SYNTHRAL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "synthral", "serve", "--local", "--port", "0", "--no-worker", "--no-scheduler"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        seen = []
        while not (seen and seen[-1].startswith("http://")) and len(seen) < 20:
            seen.append(process.stderr.readline().strip())  # the server's messages, then the link
        line = seen[-1]
        found = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{43})", line)
        assert found, seen
        with httpx.Client(base_url=f"http://127.0.0.1:{found.group(1)}") as http:
            assert http.get("/api/v1/auth/me").status_code == 401
            opened = http.get(line.removeprefix(f"http://127.0.0.1:{found.group(1)}"))
            assert opened.status_code == 302 and opened.headers["location"] == "/"
            me = http.get("/api/v1/auth/me")  # the client kept the cookie
            assert me.status_code == 200 and me.json()["method"] == "local"
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=60)
    assert found.group(2) not in stdout + stderr  # printed once, in the link
