"""Workflows and executions over HTTP: create, version, run, follow, replay, cancel, signal, page."""

from __future__ import annotations

import pytest

from synthral.security.egress import EgressSettings
from tests.support.api import Api, wait_for
from tests.support.engine import chain

pytestmark = pytest.mark.slow

GREET = chain(
    "greet",
    {"id": "start", "type": "core/set", "config": {"values": {"n": 1}}},
    {"id": "echo", "type": "noop/echo", "input": {"value": "{{ trigger.who }}"}},
)


async def test_create_run_and_follow_a_workflow(api: Api) -> None:
    created = await api.call("editor", "POST", "/workflows", json=GREET)
    assert created.status_code == 201, created.text
    workflow = created.json()
    assert (workflow["name"], workflow["version"], workflow["created"]) == ("greet", 1, True)
    assert "noop" in workflow["plugin_versions"]

    again = await api.call("editor", "POST", "/workflows", json=GREET)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["status"] == 409 and "PUT" in again.json()["detail"]

    run = await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={"trigger_data": {"who": "Ada"}})
    assert run.status_code == 202, run.text
    done = await wait_for(api, run.json()["execution_id"])
    assert done["execution"]["status"] == "completed"
    assert done["execution"]["output"]["echo"]["value"] == "Ada"
    assert [s["node_id"] for s in done["steps"]] == ["start", "echo"]

    prd_path = await api.call("viewer", "GET", f"/workflows/executions/{run.json()['execution_id']}/status")
    assert prd_path.status_code == 200


async def test_an_update_is_a_new_version_and_old_runs_keep_theirs(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=GREET)).json()
    unchanged = await api.call("editor", "PUT", f"/workflows/{workflow['id']}", json=GREET)
    assert unchanged.json() | {"created": None} == workflow | {"created": None}
    assert unchanged.json()["created"] is False
    changed = {**GREET, "description": "now with a description"}
    v2 = await api.call("editor", "PUT", f"/workflows/{workflow['id']}", json=changed)
    assert (v2.json()["version"], v2.json()["created"]) == (2, True)
    versions = (await api.call("viewer", "GET", f"/workflows/{workflow['id']}/versions")).json()
    assert [v["version"] for v in versions["items"]] == [2, 1] and versions["next_cursor"] is None
    first = await api.call("viewer", "GET", f"/workflows/{workflow['id']}", params={"version": 1})
    assert first.json()["workflow"]["description"] in ("", None)
    renamed = await api.call("editor", "PUT", f"/workflows/{workflow['id']}", json={**GREET, "name": "other"})
    assert renamed.status_code == 422
    assert "keeps its name" in renamed.json()["detail"]


async def test_an_invalid_workflow_names_the_node_and_the_problem(api: Api) -> None:
    bad = chain("bad", {"id": "ghost", "type": "noop/does-not-exist"})
    answer = await api.call("editor", "POST", "/workflows", json=bad)
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "workflow_invalid"
    assert "ghost" in body["detail"]
    listing = await api.call("viewer", "GET", "/workflows")
    assert listing.json()["items"] == []  # nothing was stored


async def test_listings_page_with_cursors(api: Api) -> None:
    for index in range(5):
        await api.call("editor", "POST", "/workflows", json={**GREET, "name": f"wf-{index}"})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.call("viewer", "GET", "/workflows", params=params)).json()
        seen.extend(item["name"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"wf-{i}" for i in range(5)]
    bad_cursor = await api.call("viewer", "GET", "/workflows", params={"cursor": "!!not-a-cursor"})
    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.json()["detail"]


async def test_replay_cancel_and_signal(api: Api) -> None:
    flaky = chain("flaky-run", {"id": "once", "type": "noop/flaky", "retry": {"max_attempts": 1}})
    workflow = (await api.call("editor", "POST", "/workflows", json=flaky)).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    failed = await wait_for(api, run["execution_id"])
    assert failed["execution"]["status"] == "failed"
    replay = await api.call("editor", "POST", f"/executions/{run['execution_id']}/replay", json={})
    assert replay.status_code == 202
    replayed = await wait_for(api, replay.json()["execution_id"])
    assert replayed["execution"]["replay_of"] == run["execution_id"]

    waiting = chain("held", {"id": "hold", "type": "engine/wait_signal", "config": {"signal": "go"}})
    held = (await api.call("editor", "POST", "/workflows", json=waiting)).json()
    execution_id = (await api.call("editor", "POST", f"/workflows/{held['id']}/run", json={})).json()["execution_id"]
    await wait_for(api, execution_id, "waiting")
    body = {"name": "go", "data": {"ok": True}, "dedupe_key": "k1"}
    first = await api.call("editor", "POST", f"/executions/{execution_id}/signal", json=body)
    second = await api.call("editor", "POST", f"/executions/{execution_id}/signal", json=body)
    assert (first.json()["delivered"], second.json()["delivered"]) == (True, False)
    assert (await wait_for(api, execution_id))["execution"]["status"] == "completed"

    long = chain("long", {"id": "nap", "type": "noop/async-sleep", "input": {"seconds": 30}})
    slow = (await api.call("editor", "POST", "/workflows", json=long)).json()
    stuck = (await api.call("editor", "POST", f"/workflows/{slow['id']}/run", json={})).json()["execution_id"]
    await wait_for(api, stuck, "running")
    assert (await api.call("editor", "POST", f"/executions/{stuck}/cancel")).status_code == 202
    assert (await wait_for(api, stuck))["execution"]["status"] == "cancelled"


async def test_another_workspace_sees_nothing(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=GREET)).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    own = api.headers("outsider", workspace="globex")
    for method, path in [
        ("GET", f"/workflows/{workflow['id']}"),
        ("GET", f"/executions/{run['execution_id']}"),
        ("POST", f"/executions/{run['execution_id']}/cancel"),
        ("DELETE", f"/workflows/{workflow['id']}"),
    ]:
        answer = await api.http.request(method, path, headers=own)
        assert answer.status_code == 404, (method, path, answer.text)
    listing = await api.http.get("/executions", headers=own)
    assert listing.json()["items"] == []
    # The same name is free in another workspace: names are per workspace.
    theirs = await api.http.post("/workflows", json=GREET, headers=own)
    assert theirs.status_code == 201 and theirs.json()["id"] != workflow["id"]
    # Naming a workspace one does not belong to answers 404, as if it did not exist.
    assert (await api.call("outsider", "GET", "/workflows")).status_code == 404


async def test_delete_refuses_while_runs_are_live_then_removes_everything(api: Api) -> None:
    long = chain("to-delete", {"id": "nap", "type": "noop/async-sleep", "input": {"seconds": 30}})
    workflow = (await api.call("editor", "POST", "/workflows", json=long)).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    refused = await api.call("editor", "DELETE", f"/workflows/{workflow['id']}")
    assert refused.status_code == 400 and "cancel" in refused.json()["detail"]
    await api.call("editor", "POST", f"/executions/{run['execution_id']}/cancel")
    await wait_for(api, run["execution_id"])
    assert (await api.call("editor", "DELETE", f"/workflows/{workflow['id']}")).status_code == 204
    assert (await api.call("viewer", "GET", f"/workflows/{workflow['id']}")).status_code == 404
    assert (await api.call("viewer", "GET", f"/executions/{run['execution_id']}")).status_code == 404


async def test_a_step_gets_the_workspace_credentials_it_is_granted(api: Api) -> None:
    put = await api.call("editor", "PUT", "/credentials/api_token", json={"value": "tok-0123456789abcdef"})
    assert put.status_code == 200 and "tok-0123456789abcdef" not in put.text
    granted = chain("granted", {"id": "who", "type": "noop/whoami", "secrets": ["api_token"]})
    workflow = (await api.call("editor", "POST", "/workflows", json=granted)).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    done = await wait_for(api, run["execution_id"])
    assert done["execution"]["status"] == "completed", done["execution"]
    assert done["execution"]["output"]["who"]["value"]["secrets"] == ["api_token"]

    missing = chain("ungranted", {"id": "who", "type": "noop/whoami", "secrets": ["nowhere"]})
    other = (await api.call("editor", "POST", "/workflows", json=missing)).json()
    failed = await wait_for(
        api, (await api.call("editor", "POST", f"/workflows/{other['id']}/run", json={})).json()["execution_id"]
    )
    assert failed["execution"]["status"] == "failed"
    assert "nowhere" in failed["execution"]["error_message"]


async def test_a_secret_a_plugin_quotes_never_reaches_a_log_line(api: Api) -> None:
    import logging

    from synthral.security.redact import install_log_redaction

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_redaction(root)
        await api.call("editor", "PUT", "/credentials/token", json={"value": "tok-SECRET-0123456789"})
        broken = chain(
            "quotes-its-secret", {"id": "b", "type": "noop/broken", "secrets": ["token"], "retry": {"max_attempts": 1}}
        )
        workflow = (await api.call("editor", "POST", "/workflows", json=broken)).json()
        run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
        failed = await wait_for(api, run["execution_id"])
        logging.getLogger("synthral.test").error("the plugin said: %s", "secret was tok-SECRET-0123456789")
    finally:
        root.removeHandler(handler)
    assert failed["execution"]["status"] == "failed"
    assert "tok-SECRET-0123456789" not in failed["execution"]["error_message"]
    assert lines and not any("tok-SECRET-0123456789" in line for line in lines)
    assert any("[REDACTED]" in line for line in lines)


async def test_a_step_in_a_workspace_gets_that_workspaces_policy(api: Api) -> None:
    workspaces = [
        (w.id, w.slug) for w in [await api.state.identity.workspace_by_slug(s) for s in ("acme", "globex")] if w
    ]
    api.state.app.plugins.egress = EgressSettings.from_env(
        {"SYNTHRAL_EGRESS_ALLOW": "203.0.113.0/24", "SYNTHRAL_EGRESS_ALLOW_ACME": "10.20.0.0/16"}
    ).resolved(workspaces)
    workflow = await api.call("editor", "POST", "/workflows", json=chain("who", {"id": "w", "type": "noop/whoami"}))
    run = await api.call("editor", "POST", f"/workflows/{workflow.json()['id']}/run", json={})
    done = await wait_for(api, run.json()["execution_id"])
    assert done["execution"]["status"] == "completed", done["execution"]
    network = done["execution"]["output"]["w"]["value"]["network"]
    assert network == {"allowLoopback": False, "allow": ["203.0.113.0/24", "10.20.0.0/16"]}
