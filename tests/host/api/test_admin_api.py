"""Owners' operations: health of workers and queue, bulk replay, plugin processes, members, blobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from synthral.services.admin import AdminService
from synthral.store.tables import EXECUTION, utcnow
from synthral_sdk import BlobRef
from tests.support.api import Api, wait_for
from tests.support.engine import chain

pytestmark = pytest.mark.slow

FAILS = chain(
    "fails",
    {"id": "start", "type": "core/set", "config": {"values": {"n": 1}}},
    {"id": "boom", "type": "noop/broken", "retry": {"max_attempts": 1}},
)


async def test_health_shows_the_queue_and_the_worker_that_ran_steps(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=FAILS)).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    await wait_for(api, run["execution_id"])
    answer = await api.call("owner", "GET", "/admin/health")
    assert answer.status_code == 200, answer.text
    health = answer.json()
    assert health["queue"]["failed_24h"] == 1
    assert health["queue"]["queued"] == 0 and health["queue"]["oldest_queued_at"] is None
    assert any(w["steps_10m"] >= 2 for w in health["workers"])
    for role in ("editor", "viewer"):
        refused = await api.call(role, "GET", "/admin/health")
        assert refused.status_code == 403 and "owner" in refused.json()["detail"]


async def test_the_queue_counts_waiting_and_paused_runs_and_the_oldest_due_one(api: Api) -> None:
    waits = chain("waits", {"id": "pause", "type": "core/wait", "config": {"seconds": 3600}})
    workflow = (await api.call("editor", "POST", "/workflows", json=waits)).json()
    first = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()["execution_id"]
    second = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()["execution_id"]
    await wait_for(api, first, "waiting")
    await wait_for(api, second, "waiting")
    await api.call("editor", "POST", f"/executions/{second}/pause")
    queue = (await api.call("owner", "GET", "/admin/health")).json()["queue"]
    assert (queue["waiting"], queue["paused"], queue["due"], queue["oldest_queued_at"]) == (1, 1, 0, None)
    # A timer run is due when its time comes; seen from then, it is the oldest queued run.
    service = AdminService(api.state.app.workflows, api.state.app.plugins)
    async with api.state.app.database.transaction() as connection:
        await connection.execute(
            update(EXECUTION)
            .where(EXECUTION.c.id == first)
            .values(status="queued", next_run_at=utcnow() + timedelta(hours=1))
        )
    later = await service.health(await _workspace_id(api), now=utcnow() + timedelta(hours=2))
    assert (later.queue["queued"], later.queue["due"]) == (1, 1)
    assert 7100 < later.queue["oldest_queued_seconds"] < 7300


async def _workspace_id(api: Api) -> str:
    workspace = await api.state.identity.workspace_by_slug(api.workspace)
    assert workspace is not None
    return workspace.id


async def test_bulk_replay_replays_failed_runs_and_says_why_others_were_not(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=FAILS)).json()
    failed = []
    for _ in range(2):
        run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
        failed.append((await wait_for(api, run["execution_id"]))["execution"]["id"])
    answer = await api.call("owner", "POST", "/admin/replay", json={"execution_ids": [*failed, "no-such-run"]})
    assert answer.status_code == 200, answer.text
    results = answer.json()
    assert [r["execution_id"] for r in results] == [*failed, "no-such-run"]
    assert all(r["replayed_as"] for r in results[:2])
    assert results[2]["replayed_as"] is None and "no execution" in results[2]["error"]
    replayed = await wait_for(api, results[0]["replayed_as"])
    assert replayed["execution"]["replay_of"] == failed[0]
    empty = await api.call("owner", "POST", "/admin/replay", json={"execution_ids": []})
    assert empty.status_code == 422
    editor = await api.call("editor", "POST", "/admin/replay", json={"execution_ids": failed})
    assert editor.status_code == 403


async def test_plugin_processes_show_restarts_and_resident_memory(api: Api) -> None:
    echo = chain("echo", {"id": "e", "type": "noop/echo", "input": {"value": "x"}})
    workflow = (await api.call("editor", "POST", "/workflows", json=echo)).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    await wait_for(api, run["execution_id"])
    processes = (await api.call("owner", "GET", "/admin/processes")).json()["items"]
    [noop] = [p for p in processes if p["name"] == "noop"]
    assert noop["state"] == "running" and noop["pid"] > 0
    assert noop["rss_bytes"] > 1_000_000
    assert noop["restarts"] == 0
    assert (await api.call("viewer", "GET", "/admin/processes")).status_code == 403


async def test_members_are_listed_with_their_roles_for_every_member(api: Api) -> None:
    answer = await api.call("viewer", "GET", "/workspace/members")
    assert answer.status_code == 200, answer.text
    members = answer.json()["items"]
    assert [(m["email"], m["role"]) for m in members] == [
        ("owner@example.com", "owner"),
        ("editor@example.com", "editor"),
        ("viewer@example.com", "viewer"),
    ]
    assert "password_hash" not in answer.text
    account = (await api.call("viewer", "GET", "/auth/account")).json()
    assert (account["email"], account["totp_enabled"], account["local"]) == ("viewer@example.com", False, False)


async def test_a_blob_is_served_only_through_a_run_that_refers_to_it(api: Api) -> None:
    store = api.state.app.plugins.blobs
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    ref = BlobRef.model_validate(
        (await api.call("editor", "POST", "/blobs", files={"file": ("scan.png", png, "image/png")})).json()
    )
    page_file = {"file": ("page.html", b"<script>alert(1)</script>", "text/html")}
    html = BlobRef.model_validate((await api.call("editor", "POST", "/blobs", files=page_file)).json())
    stranger = store.put(b"not referred to", media_type="text/plain")
    keep = chain("keep", {"id": "start", "type": "core/noop"})
    workflow = (await api.call("editor", "POST", "/workflows", json=keep)).json()
    trigger = {"scan": ref.to_json(), "page": html.to_json()}
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={"trigger_data": trigger})).json()
    await wait_for(api, run["execution_id"])
    base = f"/executions/{run['execution_id']}/blobs"
    image = await api.call("viewer", "GET", f"{base}/{ref.digest}")
    assert image.status_code == 200 and image.content == png
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    page = await api.call("viewer", "GET", f"{base}/{html.digest}")
    assert page.headers["content-type"] == "application/octet-stream"
    assert page.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in page.headers["content-security-policy"]
    assert (await api.call("viewer", "GET", f"{base}/{stranger.digest}")).status_code == 404
    assert (await api.call("viewer", "GET", f"{base}/sha256:nothex")).status_code == 404
    outsider = await api.http.get(
        f"{base}/{ref.digest}", headers=api.headers("outsider", workspace=api.other_workspace)
    )
    assert outsider.status_code == 404


async def test_the_workflow_list_shows_each_workflows_last_run(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=FAILS)).json()
    never = chain("never", {"id": "start", "type": "core/noop"})
    await api.call("editor", "POST", "/workflows", json=never)
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    await wait_for(api, run["execution_id"])
    items = {w["name"]: w for w in (await api.call("viewer", "GET", "/workflows")).json()["items"]}
    assert items["fails"]["last_run"]["status"] == "failed"
    assert items["fails"]["last_run"]["execution_id"] == run["execution_id"]
    assert items["never"]["last_run"] is None
