"""The chat API across origins: CORS headers for the embedding sites configured, a clear refusal for others.

A real server (uvicorn, SQLite) with ``copilot.embed_origins`` set as
``SYNTHRAL_COPILOT_EMBED_ORIGINS`` sets it; requests carry the ``Origin`` a browser would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from synthral.api.app import assemble, close_server
from synthral.config import Settings
from synthral.errors import ConfigurationError
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing, generate_key
from synthral.services.app import build_app
from synthral.store.db import Database
from tests.support.api import CHEAP_PASSWORDS, PASSWORD, serving
from tests.support.settings import make_settings

SHOP = "https://shop.example.com"
EVIL = "https://evil.example.net"
EMBED_HTML = "<!doctype html><title>widget</title>"


@dataclass
class Served:
    url: str
    http: httpx.AsyncClient
    token: str
    key: str


@pytest.fixture
async def served(tmp_path: Path, wheelhouse: Path) -> AsyncIterator[Served]:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>app</title>")
    (web / "embed.html").write_text(EMBED_HTML)
    settings = make_settings(tmp_path / "home", wheelhouse).replace(
        copilot={"embed_origins": (SHOP, "http://localhost:5173")}, server={"web_root": web}
    )
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'synthral.db'}")
    await database.migrate()
    plugins = PluginHost(settings)
    state = assemble(
        build_app(settings, database, plugins, KeyRing.single(generate_key())),
        public_url="http://127.0.0.1:1",
        passwords=CHEAP_PASSWORDS,
    )
    user = await state.identity.create_user("editor@example.com", PASSWORD)
    await state.identity.create_workspace("acme", "Acme", owner_id=user.id)
    try:
        async with serving(state) as url, httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            login = await http.post("/api/v1/auth/login", json={"email": "editor@example.com", "password": PASSWORD})
            token = login.json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            workflow = {"name": "greet", "nodes": [{"id": "hi", "type": "core/set", "config": {"values": {"a": 1}}}]}
            saved = await http.post("/api/v1/workflows", json=workflow, headers=bearer)
            assert saved.status_code == 201, saved.text
            made = await http.post(
                "/api/v1/auth/api-keys", json={"name": "widget", "workflow_id": saved.json()["id"]}, headers=bearer
            )
            assert made.status_code == 201, made.text
            yield Served(url, http, token, made.json()["key"])
    finally:
        await close_server(state)
        await plugins.close()
        await database.close()


async def test_an_allowed_origin_gets_cors_headers_on_the_chat_api_with_a_workflow_scoped_key(served: Served) -> None:
    headers = {"Authorization": f"Bearer {served.key}", "Origin": SHOP}
    listed = await served.http.get("/api/v1/chat/conversations", headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.headers["access-control-allow-origin"] == SHOP
    assert "Origin" in listed.headers["vary"]
    assert "access-control-allow-credentials" not in listed.headers  # a bearer key, never a cookie

    # an error the widget must be able to read carries the headers too, from the gate or a route
    missing = await served.http.post(
        "/api/v1/chat/conversations/nope/actions/a1", json={"decision": "confirm"}, headers=headers
    )
    assert missing.status_code == 400 and "no LLM" in missing.json()["detail"]  # no copilot LLM set here
    assert missing.headers["access-control-allow-origin"] == SHOP
    anonymous = await served.http.get("/api/v1/chat/conversations", headers={"Origin": SHOP})
    assert anonymous.status_code == 401 and anonymous.headers["access-control-allow-origin"] == SHOP

    # other routes stay closed to other sites' pages, and the key reaches none of them anyway
    other = await served.http.get("/api/v1/auth/me", headers=headers)
    assert "access-control-allow-origin" not in other.headers


async def test_a_preflight_from_an_allowed_origin_is_answered_before_authentication(served: Served) -> None:
    preflight = await served.http.options(
        "/api/v1/chat",
        headers={
            "Origin": "http://LOCALHOST:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == "http://LOCALHOST:5173"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"]
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert int(preflight.headers["access-control-max-age"]) > 0


async def test_another_origin_is_refused_with_a_problem_naming_the_setting(served: Served) -> None:
    headers = {"Authorization": f"Bearer {served.key}", "Origin": EVIL}
    refused = await served.http.post("/api/v1/chat", json={"prompt": "delete everything"}, headers=headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "origin_not_allowed" and problem["origin"] == EVIL
    assert "SYNTHRAL_COPILOT_EMBED_ORIGINS" in problem["detail"] and SHOP in problem["detail"]
    assert "access-control-allow-origin" not in refused.headers

    preflight = await served.http.options(
        "/api/v1/chat", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
    for origin in ("null", "https://shop.example.com.evil.example.net", "http://shop.example.com"):
        answer = await served.http.get("/api/v1/chat/conversations", headers={**headers, "Origin": origin})
        assert answer.status_code == 403, origin


async def test_the_apps_own_pages_and_requests_without_an_origin_pass_untouched(served: Served) -> None:
    bearer = {"Authorization": f"Bearer {served.token}"}
    same = await served.http.get("/api/v1/chat/conversations", headers={**bearer, "Origin": served.url})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    plain = await served.http.get("/api/v1/chat/conversations", headers=bearer)
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


async def test_the_widget_page_may_be_framed_by_the_allowed_origins_only(served: Served) -> None:
    page = await served.http.get("/embed.html")
    assert page.status_code == 200 and page.text == EMBED_HTML
    policy = page.headers["content-security-policy"]
    assert f"frame-ancestors 'self' http://localhost:5173 {SHOP};" in policy
    assert "x-frame-options" not in page.headers
    app = await served.http.get("/workflows")
    assert "frame-ancestors 'none'" in app.headers["content-security-policy"]
    assert app.headers["x-frame-options"] == "DENY"


async def test_the_chat_socket_refuses_pages_of_other_origins_and_admits_allowed_ones(served: Served) -> None:
    socket_url = served.url.replace("http", "ws", 1) + "/api/agws"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(socket_url, origin=EVIL):
            pass
    assert refused.value.response.status_code == 403
    async with connect(socket_url, origin=SHOP) as socket:
        await socket.send(orjson.dumps({"type": "auth", "token": served.key}).decode())
        ready = orjson.loads(await socket.recv())
        assert ready["type"] == "ready"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("*", "list each origin"),
        ("https://shop.example.com/widget", "no path"),
        ("shop.example.com", "scheme://host"),
        ("https://shop.example.com:99999", "bad port"),
    ],
)
def test_an_origin_setting_that_is_no_origin_stops_the_start_naming_the_fix(value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as stopped:
        Settings.load({"SYNTHRAL_COPILOT_EMBED_ORIGINS": f"https://ok.example, {value}"})
    assert "SYNTHRAL_COPILOT_EMBED_ORIGINS" in stopped.value.message and problem in stopped.value.message


def test_origins_are_kept_as_browsers_send_them() -> None:
    settings = Settings.load({"SYNTHRAL_COPILOT_EMBED_ORIGINS": "HTTPS://Shop.Example.com:443/, http://[::1]:8080"})
    assert settings.copilot.embed_origins == ("https://shop.example.com", "http://[::1]:8080")
