"""Connector docs and the test runner over HTTP, with the workspace's credential, on both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from synthral.api.app import close_server
from synthral.plugins.permissions import GrantRequest
from synthral.security.egress import EgressSettings
from synthral.services.connector_build import build_connector
from synthral.services.connector_openapi import import_openapi
from synthral.store.db import Database
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn
from tests.support.api import PASSWORD, make_state, serving

pytestmark = pytest.mark.slow
SPECS = Path(__file__).parents[2] / "fixtures" / "openapi"


@pytest.fixture(scope="module")
def resend_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Resend's real OpenAPI document, its Emails tag imported and built into a wheel."""
    import asyncio

    folder = tmp_path_factory.mktemp("resend")
    import_openapi(SPECS / "resend.yaml", folder, name="resend", select=["Emails"])
    return asyncio.run(build_connector(folder, tmp_path_factory.mktemp("dist")))


@pytest.fixture
async def owner(
    database: Database, tmp_path: Path, wheelhouse: Path, resend_wheel: Path
) -> AsyncIterator[httpx.AsyncClient]:
    state, plugins = await make_state(database, tmp_path / "home", wheelhouse)
    # What it declares, and any host: its calls go to a stand-in on a port chosen when it starts.
    await plugins.install(str(resend_wheel), grant=GrantRequest(items=["all", "network=any"]))
    plugins.egress = EgressSettings.from_env({"SYNTHRAL_EGRESS_ALLOW": "127.0.0.1"})  # the stand-in is on this machine
    user = await state.identity.create_user("owner@example.com", PASSWORD)
    await state.identity.create_workspace("acme", "Acme", owner_id=user.id)
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=60.0) as http:
        login = await http.post("/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield http
    await close_server(state)
    await plugins.close()


async def test_docs_come_from_the_installed_connector_and_the_runner_uses_the_workspace_credential(
    owner: httpx.AsyncClient,
) -> None:
    answer = await owner.get("/connectors/resend/docs")
    assert answer.status_code == 200, answer.text
    docs = answer.json()
    assert docs["plugin"] == "connector-resend" and docs["version"] == "0.1.0"
    assert "# Resend connector" in docs["markdown"] and "### `emails_send`" in docs["markdown"]
    assert "| `body.subject` | string | yes |" in docs["markdown"]
    missing = await owner.get("/connectors/nothing/docs")
    assert missing.status_code == 404 and "install its plugin" in missing.json()["detail"]
    # One installed wheel serves both checks: installing is the slow part of this module.
    api = StandIn(auth=BearerAuth("re_123"), unauthorized={"name": "validation_error", "message": "API key is invalid"})

    @api.route("POST", "/emails")
    def send(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(200, {"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794", "to": body["to"]})

    email = {"body": {"from": "a@acme.test", "to": ["b@acme.test"], "subject": "hi", "html": "<p>hi</p>"}}
    with api:
        config = {"base_url": api.url}
        await owner.put("/credentials/resend", json={"value": {"api_key": "re_123"}, "kind": "api_key"})
        sent = await owner.post(
            "/connectors/resend/test", json={"action": "emails_send", "input": email, "config": config}
        )
        await owner.put("/credentials/resend", json={"value": {"api_key": "re_wrong"}, "kind": "api_key"})
        refused = await owner.post(
            "/connectors/resend/test", json={"action": "emails_send", "input": email, "config": config}
        )
    assert sent.status_code == 200, sent.text
    assert sent.json()["ok"] is True
    assert sent.json()["output"]["data"]["to"] == ["b@acme.test"]
    assert refused.json()["ok"] is False
    assert "API key is invalid" in refused.json()["error"]["message"]
    assert "re_wrong" not in refused.text and "re_123" not in json.dumps(sent.json())
    bad = await owner.post("/connectors/resend/test", json={"action": "nope"})
    assert bad.status_code == 404 and "emails_send" in bad.json()["detail"]
    extra = await owner.post("/connectors/resend/test", json={"acton": "emails_send"})
    assert extra.status_code == 422
