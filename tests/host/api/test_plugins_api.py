"""Plugins over HTTP: upload a wheel while the server runs, and no request can name a path on the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from synthral.api.app import close_server
from synthral.store.db import Database
from tests.support.api import PASSWORD, make_state, serving

pytestmark = pytest.mark.slow


@pytest.fixture
async def owner(database: Database, tmp_path: Path, wheelhouse: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An owner's client against a server with a fresh, empty plugin home."""
    state, plugins = await make_state(database, tmp_path / "home", wheelhouse)
    user = await state.identity.create_user("owner@example.com", PASSWORD)
    await state.identity.create_workspace("acme", "Acme", owner_id=user.id)
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=120.0) as http:
        login = await http.post("/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield http
    await close_server(state)
    await plugins.close()


async def test_upload_a_wheel_disable_and_remove_it_while_serving(
    owner: httpx.AsyncClient, fixture_wheels: dict[str, Path]
) -> None:
    wheel = fixture_wheels["noop"]
    with wheel.open("rb") as handle:
        answer = await owner.post("/plugins", files={"wheel": (wheel.name, handle, "application/octet-stream")})
    assert answer.status_code == 201, answer.text
    plugin = answer.json()
    assert (plugin["name"], plugin["version"]) == ("noop", "1.0.0")
    assert "source" not in plugin  # no server path is shown
    info = (await owner.get("/plugins/noop")).json()
    assert any(c["ref"] == "noop/echo" for c in info["capabilities"])
    assert (await owner.post("/plugins/noop/disable")).json() == {"disabled": ["noop==1.0.0"]}
    assert (await owner.post("/plugins/noop/enable")).json() == {"enabled": ["noop==1.0.0"]}
    assert (await owner.delete("/plugins/noop")).status_code == 204
    assert (await owner.get("/plugins/noop")).status_code == 404 or (await owner.get("/plugins/noop")).json()[
        "versions"
    ] == []


@pytest.mark.parametrize(
    "filename",
    [
        "../noop-1.0.0-py3-none-any.whl",
        "..%2Fnoop-1.0.0-py3-none-any.whl",
        "/etc/noop-1.0.0-py3-none-any.whl",
        "sub/noop-1.0.0-py3-none-any.whl",
        "..\\noop-1.0.0-py3-none-any.whl",
        "noop-1.0.0-py3-none-any.whl\x00.txt",
        "....//noop-1.0.0-py3-none-any.whl",
        "noop.tar.gz",
    ],
)
async def test_an_upload_cannot_choose_where_it_lands(
    owner: httpx.AsyncClient, fixture_wheels: dict[str, Path], filename: str
) -> None:
    data = fixture_wheels["noop"].read_bytes()
    answer = await owner.post("/plugins", files={"wheel": (filename, data, "application/octet-stream")})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await owner.get("/plugins")).json() == [p for p in (await owner.get("/plugins")).json() if p["builtin"]]


@pytest.mark.parametrize(
    "spec",
    ["/etc/passwd", "../../plugins/http", "plugins/http", "http==1.0.0; rm -rf /", "file:///etc/passwd", "http"],
)
async def test_a_pin_cannot_name_a_path(owner: httpx.AsyncClient, spec: str) -> None:
    answer = await owner.post("/plugins", data={"spec": spec})
    assert answer.status_code == 422, answer.text
    assert "NAME==VERSION" in answer.json()["detail"]


async def test_a_json_body_cannot_forge_a_file_path(owner: httpx.AsyncClient) -> None:
    forged = await owner.post("/plugins", json={"source": "/tmp/evil.whl", "spec": "/tmp/evil.whl"})
    assert forged.status_code == 422
    for name in ("..%2F..%2Fetc", "..", "%2e%2e", "a%00b"):
        answer = await owner.delete(f"/plugins/{name}")
        assert answer.status_code in (404, 422), (name, answer.text)


async def test_symlinked_files_on_the_server_are_never_read(owner: httpx.AsyncClient, tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("top secret")
    link = tmp_path / "noop-1.0.0-py3-none-any.whl"
    link.symlink_to(target)
    answer = await owner.post("/plugins", data={"spec": str(link)})
    assert answer.status_code == 422
    assert "top secret" not in answer.text
