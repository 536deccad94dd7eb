"""Connectors over HTTP: manifests, actions with the workspace's credential, provider-signed webhooks, OAuth start."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from synthral.api.app import close_server
from synthral.store.db import Database
from tests.conftest import GRANT_ALL
from tests.support.api import PASSWORD, make_state, serving

pytestmark = pytest.mark.slow


@dataclass
class Clients:
    owner: httpx.AsyncClient
    viewer: httpx.AsyncClient
    anonymous: httpx.AsyncClient


async def _login(url: str, email: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=url + "/api/v1", timeout=60.0)
    login = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return http


@pytest.fixture
async def clients(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> AsyncIterator[Clients]:
    state, plugins = await make_state(database, tmp_path / "home", wheelhouse)
    await plugins.install(str(fixture_wheels["oauthy"]), grant=GRANT_ALL)
    owner = await state.identity.create_user("owner@example.com", PASSWORD)
    viewer = await state.identity.create_user("viewer@example.com", PASSWORD)
    workspace = await state.identity.create_workspace("acme", "Acme", owner_id=owner.id)
    await state.identity.add_member(workspace.id, viewer.id, "viewer")
    async with serving(state) as url:
        made = Clients(await _login(url, "owner@example.com"), await _login(url, "viewer@example.com"),
                       httpx.AsyncClient(base_url=url + "/api/v1"))  # fmt: skip
        yield made
        for http in (made.owner, made.viewer, made.anonymous):
            await http.aclose()
    await close_server(state)
    await plugins.close()


async def test_the_manifest_lists_auth_scopes_actions_and_webhook_scheme(clients: Clients) -> None:
    listing = {c["slug"]: c for c in (await clients.viewer.get("/connectors/list")).json()["items"]}
    assert listing["oauthy"]["auth_type"] == "oauth2" and listing["oauthy"]["scopes"] == ["read", "write"]
    assert listing["oauthy"]["authorize_url"] == "https://auth.oauthy.example/authorize"
    assert listing["hubbish"]["actions"] == ["greet"]
    assert listing["hubbish"]["webhook"]["scheme"] == "github"
    assert (listing["hubbish"]["plugin"], listing["hubbish"]["version"], listing["hubbish"]["versions"]) == (
        "oauthy",
        "1.0.0",
        ["1.0.0"],
    )


async def test_an_unknown_action_or_version_is_named_with_what_there_is(clients: Clients) -> None:
    await clients.owner.put("/credentials/hubbish", json={"value": {"api_key": "key-0123456789"}, "kind": "api_key"})
    unknown = await clients.owner.post("/connectors/hubbish/wave", json={})
    assert unknown.status_code == 404 and "its actions are: greet" in unknown.json()["detail"]
    pinned = await clients.owner.post("/connectors/hubbish/greet", params={"version": "1.0.0"}, json={"who": "A"})
    assert pinned.status_code == 200, pinned.text
    missing = await clients.owner.post("/connectors/hubbish/greet", params={"version": "9.9"}, json={"who": "A"})
    assert missing.status_code == 404 and "installed: 1.0.0" in missing.json()["detail"]


async def test_an_action_runs_with_the_workspace_credential(clients: Clients) -> None:
    missing = await clients.owner.post("/connectors/hubbish/greet", json={"who": "Ada"})
    assert missing.status_code == 404 and "hubbish" in missing.json()["detail"]
    await clients.owner.put(
        "/credentials/hubbish", json={"value": {"api_key": "key-0123456789-WXYZ"}, "kind": "api_key"}
    )
    answer = await clients.owner.post("/connectors/hubbish/greet", json={"who": "Ada"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"text": "hello Ada", "key_tail": "WXYZ"}
    assert (await clients.viewer.post("/connectors/hubbish/greet", json={"who": "Ada"})).status_code == 403
    unknown = await clients.owner.post("/connectors/hubbish/delete-everything", json={})
    assert unknown.status_code == 404
    rotated = await clients.owner.post("/connectors/hubbish/rotate", json={"values": {"api_key": "key-new-ABCD"}})
    assert rotated.status_code == 200 and "key-new" not in rotated.text
    assert (await clients.owner.post("/connectors/hubbish/greet", json={"who": "Bo"})).json()["key_tail"] == "ABCD"


async def test_a_github_signed_delivery_starts_one_run(clients: Clients) -> None:
    workflow = {"name": "on-push", "nodes": [{"id": "a", "type": "core/set"}], "edges": [],
                "triggers": [{"type": "webhook", "connector": "hubbish"}]}  # fmt: skip
    made = (await clients.owner.post("/workflows", json=workflow)).json()
    subscription = (await clients.owner.post(f"/workflows/{made['id']}/webhook")).json()
    assert subscription["scheme"] == "github"
    path = subscription["url"].split("/api/v1", 1)[1]
    assert path == f"/connectors/hubbish/webhook?workflow={made['id']}"
    body = orjson.dumps({"ref": "refs/heads/main"})
    signature = "sha256=" + hmac.new(subscription["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-1", "X-GitHub-Event": "push"}
    first = await clients.anonymous.post(path, content=body, headers=headers)
    again = await clients.anonymous.post(path, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202), first.text
    assert first.json()["execution_id"] == again.json()["execution_id"] and again.json()["duplicate"]
    forged = await clients.anonymous.post(path, content=body + b" ", headers=headers)
    assert forged.status_code == 401 and "X-Hub-Signature-256" in forged.json()["detail"]
    wrong_connector = await clients.anonymous.post(path.replace("hubbish", "keyed"), content=body, headers=headers)
    assert wrong_connector.status_code == 404


async def test_a_captured_github_delivery_replayed_with_a_new_id_starts_no_second_run(clients: Clients) -> None:
    workflow = {"name": "on-push-replayed", "nodes": [{"id": "a", "type": "core/set"}], "edges": [],
                "triggers": [{"type": "webhook", "connector": "hubbish"}]}  # fmt: skip
    made = (await clients.owner.post("/workflows", json=workflow)).json()
    subscription = (await clients.owner.post(f"/workflows/{made['id']}/webhook")).json()
    path = subscription["url"].split("/api/v1", 1)[1]
    body = orjson.dumps({"ref": "refs/heads/main", "after": "4f9a2b7"})
    signature = "sha256=" + hmac.new(subscription["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-original", "X-GitHub-Event": "push"}
    first = await clients.anonymous.post(path, content=body, headers=headers)
    assert first.status_code == 202 and not first.json()["duplicate"], first.text
    for forged_id in ("d-replayed", "", "d-" + "x" * 60):
        replay = await clients.anonymous.post(path, content=body, headers={**headers, "X-GitHub-Delivery": forged_id})
        assert replay.status_code == 202, replay.text
        assert replay.json() == {"execution_id": first.json()["execution_id"], "duplicate": True}
    other = orjson.dumps({"ref": "refs/heads/main", "after": "77c1e0d"})  # a genuinely new push
    signed = "sha256=" + hmac.new(subscription["secret"].encode(), other, hashlib.sha256).hexdigest()
    second = await clients.anonymous.post(
        path, content=other, headers={**headers, "X-Hub-Signature-256": signed, "X-GitHub-Delivery": "d-2"}
    )
    assert second.status_code == 202 and not second.json()["duplicate"]
    runs = (await clients.owner.get(f"/workflows/{made['id']}/executions")).json()["items"]
    assert len(runs) == 2


@pytest.mark.parametrize("query", ["", "?workflow=", f"?workflow={'w' * 65}", "?other=1"])
async def test_a_connector_delivery_without_a_proper_workflow_is_refused_by_name(clients: Clients, query: str) -> None:
    answer = await clients.anonymous.post(f"/connectors/hubbish/webhook{query}", content=b"{}")
    assert answer.status_code in (404, 422), answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if answer.status_code == 422:
        assert "workflow" in answer.json()["detail"]


async def test_oauth_starts_with_pkce_and_state(clients: Clients) -> None:
    unregistered = await clients.owner.post("/connectors/oauthy/authorize")
    assert unregistered.status_code in (400, 404) and "client" in unregistered.json()["detail"].lower()
    registered = await clients.owner.put("/connectors/oauthy/client", json={"client_id": "abc", "client_secret": "s3"})
    assert registered.status_code == 204
    started = (await clients.owner.post("/connectors/oauthy/authorize")).json()
    query = parse_qs(urlsplit(started["authorization_url"]).query)
    assert query["client_id"] == ["abc"] and query["code_challenge_method"] == ["S256"] and query["state"]
    assert started["redirect_uri"].endswith("/api/v1/connectors/oauthy/callback")
    bogus = await clients.anonymous.get("/connectors/oauthy/callback", params={"code": "x", "state": "forged"})
    assert bogus.status_code == 404
    assert (await clients.viewer.put("/connectors/oauthy/client", json={"client_id": "x"})).status_code == 403
