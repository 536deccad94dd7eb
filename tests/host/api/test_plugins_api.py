"""Plugins over HTTP: upload a wheel while the server runs, and no request can name a path on the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from synthral.api.app import close_server
from synthral.store.db import Database
from tests.conftest import REPO
from tests.support.api import PASSWORD, make_state, serving
from tests.support.engine import chain

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
        refused = await owner.post("/plugins", files={"wheel": (wheel.name, handle, "application/octet-stream")})
    assert refused.status_code == 400, refused.text
    problem = refused.json()
    assert problem["code"] == "approval_required" and "network=any" in problem["details"]["missing"]
    assert any("any public host" in line for line in problem["details"]["permissions"])
    assert (await owner.get("/plugins/noop")).status_code == 404  # nothing was installed

    with wheel.open("rb") as handle:
        answer = await owner.post(
            "/plugins",
            files={"wheel": (wheel.name, handle, "application/octet-stream")},
            data={"grant": ["network", "secrets"]},
        )
    assert answer.status_code == 201, answer.text
    plugin = answer.json()
    assert (plugin["name"], plugin["version"]) == ("noop", "1.0.0")
    assert "source" not in plugin  # no server path is shown
    assert plugin["grant"]["network"] == "any" and plugin["provenance"]["installedBy"] == "owner@example.com"
    assert plugin["provenance"]["sha256"] == plugin["wheelSha256"]
    info = (await owner.get("/plugins/noop")).json()
    assert any(c["ref"] == "noop/echo" for c in info["capabilities"])
    assert info["versions"][0]["permissions"]["secrets"] == "any" and "sandboxed" in info["sandbox"]
    assert (await owner.post("/plugins/noop/disable")).json() == {"disabled": ["noop==1.0.0"]}
    assert (await owner.post("/plugins/noop/enable")).json() == {"enabled": ["noop==1.0.0"]}
    removed = await owner.delete("/plugins/noop")  # its only version, pinned by no workflow
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"] == [{"name": "noop", "version": "1.0.0"}]
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
    listing = (await owner.get("/plugins")).json()
    assert listing["next_cursor"] is None and all(p["builtin"] for p in listing["items"])


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


async def _upload(owner: httpx.AsyncClient, wheel: Path, **form: str) -> httpx.Response:
    """Upload ``wheel``, granting what it declares."""
    with wheel.open("rb") as handle:
        return await owner.post(
            "/plugins",
            files={"wheel": (wheel.name, handle, "application/octet-stream")},
            data={"grant": "all", **form},
            headers={"X-Workspace": "acme"},
        )


async def test_a_version_saved_workflows_pin_is_removed_only_when_forced_and_they_are_named(
    owner: httpx.AsyncClient, fixture_wheels: dict[str, Path]
) -> None:
    assert (await _upload(owner, fixture_wheels["noop"])).status_code == 201
    acme = {"X-Workspace": "acme"}
    assert (await owner.post("/workspaces", json={"slug": "globex", "name": "Globex"})).status_code == 201
    for workspace, name in (("acme", "etl"), ("globex", "their-secret-name")):
        made = await owner.post(
            "/workflows", json=chain(name, {"id": "a", "type": "noop/echo"}), headers={"X-Workspace": workspace}
        )
        assert made.status_code == 201, made.text
    assert (await _upload(owner, fixture_wheels["noop-2"])).status_code == 201

    every = await owner.delete("/plugins/noop", headers=acme)
    assert every.status_code == 422
    assert "DELETE /api/v1/plugins/noop/versions/{version}" in every.json()["detail"]

    refused = await owner.delete("/plugins/noop/versions/1.0.0", headers=acme)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "plugin_pinned"
    assert "'etl' (version 1) and 1 in other workspaces" in problem["detail"]
    assert "DELETE /api/v1/plugins/noop/versions/1.0.0?force=true" in problem["detail"]
    assert "their-secret-name" not in refused.text and "--" not in problem["detail"]
    assert [w["workflow"] for w in problem["details"]["workflows"]] == ["etl"]
    assert problem["details"]["other_workspaces"] == 1
    assert {v["version"] for v in (await owner.get("/plugins/noop", headers=acme)).json()["versions"]} == {
        "1.0.0",
        "2.0.0",
    }

    unpinned = await owner.delete("/plugins/noop/versions/2.0.0", headers=acme)
    assert unpinned.status_code == 200, unpinned.text
    assert unpinned.json() == {"removed": [{"name": "noop", "version": "2.0.0"}], "broken_workflows": [],
                               "broken_elsewhere": 0}  # fmt: skip

    forced = await owner.delete("/plugins/noop/versions/1.0.0", params={"force": "true"}, headers=acme)
    assert forced.status_code == 200, forced.text
    answer = forced.json()
    assert answer["removed"] == [{"name": "noop", "version": "1.0.0"}]
    assert [(w["workflow"], w["plugin_version"], w["latest"]) for w in answer["broken_workflows"]] == [
        ("etl", "1.0.0", True)
    ]
    assert answer["broken_elsewhere"] == 1
    missing = await owner.delete("/plugins/noop/versions/1.0.0", headers=acme)
    assert missing.status_code == 404


async def test_an_installed_version_is_reinstalled_over_the_api(
    owner: httpx.AsyncClient, fixture_wheels: dict[str, Path]
) -> None:
    assert (await _upload(owner, fixture_wheels["noop"])).status_code == 201
    again = await _upload(owner, fixture_wheels["noop"])
    assert again.status_code == 409, again.text
    detail = again.json()["detail"]
    assert "reinstall=true" in detail and "DELETE /api/v1/plugins/noop/versions/1.0.0" in detail
    assert "--" not in detail  # an API error gives the API's fix, not a command-line flag
    replaced = await _upload(owner, fixture_wheels["noop"], reinstall="true")
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["version"] == "1.0.0"
    echo = await owner.get("/plugins/noop")
    assert any(c["ref"] == "noop/echo" for c in echo.json()["capabilities"])


async def test_a_sigstore_bundle_is_uploaded_beside_the_wheel_and_checked(
    owner: httpx.AsyncClient, fixture_wheels: dict[str, Path]
) -> None:
    wheel = fixture_wheels["noop"]
    bundle = (REPO / "tests" / "fixtures" / "sigstore" / "pypi_attestation_models-0.0.4a2.tar.gz.sigstore").read_bytes()
    # Another file's bundle: refused before anything is installed, whoever is trusted.
    answer = await owner.post(
        "/plugins",
        files={"wheel": (wheel.name, wheel.read_bytes(), "application/octet-stream"), "sigstore": ("b", bundle)},
    )
    assert answer.status_code == 400, answer.text
    assert "no signer is trusted" in answer.json()["detail"]
    assert "noop" not in [item["name"] for item in (await owner.get("/plugins")).json()["items"]]
    lone = await owner.post("/plugins", data={"spec": "noop==1.0.0"}, files={"sigstore": ("b", bundle)})
    assert lone.status_code == 422 and "send it with field 'wheel'" in lone.json()["detail"]
    big = await owner.post(
        "/plugins",
        files={
            "wheel": (wheel.name, wheel.read_bytes(), "application/octet-stream"),
            "sigstore": ("b", b"{" * 1048577),
        },
    )
    assert big.status_code == 422 and "field 'sigstore' holds more than" in big.json()["detail"]
