"""Blob uploads and grants over HTTP: a workspace's file is its own to hand to runs, OCR and plugins."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from synthral.services.blob_grants import short_digest
from tests.support.api import Api, wait_for
from tests.support.engine import chain

pytestmark = pytest.mark.slow

KEEP = chain("keep", {"id": "start", "type": "core/noop"})
NEVER_STORED = "sha256:" + "7" * 64


async def _upload(api: Api, role: str, data: bytes, *, workspace: str | None = None) -> dict[str, Any]:
    headers = api.headers(role, workspace=workspace)
    answer = await api.http.post("/blobs", files={"file": ("scan.png", data, "image/png")}, headers=headers)
    assert answer.status_code == 201, answer.text
    ref: dict[str, Any] = answer.json()
    return ref


async def _as_outsider(api: Api, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = api.headers("outsider", workspace=api.other_workspace)
    return await api.http.request(method, path, headers=headers, **kwargs)


def _same_refusal(answer: httpx.Response, never: httpx.Response, digest: str) -> None:
    """Refused exactly like a reference to a blob nobody ever stored: nothing tells that it exists."""
    assert answer.status_code == never.status_code == 404, answer.text
    assert answer.json()["code"] == never.json()["code"] == "blob_not_found"
    detail = answer.json()["detail"].replace(short_digest(digest), short_digest(NEVER_STORED))
    assert detail == never.json()["detail"]
    assert "POST /api/v1/blobs" in detail


async def test_an_upload_starts_runs_of_its_workspace_and_another_gets_the_answer_for_no_blob(api: Api) -> None:
    ref = await _upload(api, "editor", b"\x89PNG an invoice")
    assert ref["$blob"].startswith("sha256:") and (ref["size"], ref["mediaType"], ref["name"]) == (
        15,
        "image/png",
        "scan.png",
    )
    workflow = (await api.call("editor", "POST", "/workflows", json=KEEP)).json()
    run = await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={"trigger_data": {"file": ref}})
    assert run.status_code == 202, run.text
    assert (await wait_for(api, run.json()["execution_id"]))["execution"]["status"] == "completed"

    theirs = (await _as_outsider(api, "POST", "/workflows", json=KEEP)).json()
    path = f"/workflows/{theirs['id']}/run"
    foreign = await _as_outsider(api, "POST", path, json={"trigger_data": {"file": ref}})
    never = await _as_outsider(api, "POST", path, json={"trigger_data": {"file": {"$blob": NEVER_STORED, "size": 15}}})
    _same_refusal(foreign, never, ref["$blob"])
    assert foreign.json()["details"] == {"digests": [ref["$blob"]]}
    listing = await _as_outsider(api, "GET", f"/workflows/{theirs['id']}/executions")
    assert listing.json()["items"] == []  # nothing was queued

    ocr = await _as_outsider(api, "POST", "/ocr/extract", json={"document": ref})
    ocr_never = await _as_outsider(api, "POST", "/ocr/extract", json={"document": {"$blob": NEVER_STORED, "size": 15}})
    _same_refusal(ocr, ocr_never, ref["$blob"])
    batch = await _as_outsider(api, "POST", "/ocr/batch", json={"documents": [ref]})
    assert batch.status_code == 404 and batch.json()["code"] == "blob_not_found"


async def test_uploading_the_same_bytes_in_another_workspace_grants_them_there_too(api: Api) -> None:
    ours = await _upload(api, "editor", b"the same bytes")
    theirs = await _upload(api, "outsider", b"the same bytes", workspace=api.other_workspace)
    assert ours["$blob"] == theirs["$blob"]
    workflow = (await _as_outsider(api, "POST", "/workflows", json=KEEP)).json()
    run = await _as_outsider(api, "POST", f"/workflows/{workflow['id']}/run", json={"trigger_data": {"f": theirs}})
    assert run.status_code == 202, run.text


async def test_a_workflow_or_a_signal_naming_a_foreign_blob_is_refused(api: Api) -> None:
    ref = await _upload(api, "outsider", b"globex only", workspace=api.other_workspace)
    literal = chain("literal", {"id": "echo", "type": "noop/echo", "input": {"value": ref}})
    saved = await api.call("editor", "POST", "/workflows", json=literal)
    assert saved.status_code == 404 and saved.json()["code"] == "blob_not_found"
    assert (await api.call("viewer", "GET", "/workflows")).json()["items"] == []

    waits = chain("waits", {"id": "hold", "type": "engine/wait_signal", "config": {"signal": "go"}})
    workflow = (await api.call("editor", "POST", "/workflows", json=waits)).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    await wait_for(api, run["execution_id"], "waiting")
    signal = {"name": "go", "data": {"file": ref}}
    refused = await api.call("editor", "POST", f"/executions/{run['execution_id']}/signal", json=signal)
    assert refused.status_code == 404 and refused.json()["code"] == "blob_not_found"
    mine = await _upload(api, "editor", b"acme's own")
    delivered = await api.call(
        "editor", "POST", f"/executions/{run['execution_id']}/signal", json={"name": "go", "data": {"file": mine}}
    )
    assert delivered.status_code == 200, delivered.text


async def test_the_upload_route_takes_one_file_from_an_editor(api: Api) -> None:
    files = {"file": ("a.txt", b"a", "text/plain")}
    assert (await api.call("viewer", "POST", "/blobs", files=files)).status_code == 403
    assert (await api.call("anonymous", "POST", "/blobs", files=files)).status_code == 401
    two = [("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))]
    answer = await api.call("editor", "POST", "/blobs", files=two)
    assert answer.status_code == 422 and "exactly one file" in answer.json()["detail"]
    not_a_form = await api.call("editor", "POST", "/blobs", json={"file": "a"})
    assert not_a_form.status_code == 422 and "multipart" in not_a_form.json()["detail"]


async def test_a_reference_a_step_copied_or_built_names_nothing_its_workspace_may_read(api: Api) -> None:
    # Another workspace's file, whose digest the outsider learned somehow.
    ref = await _upload(api, "editor", b"\x89PNG someone else's invoice")
    text = "{{ '{\"$' ~ 'blob\": \"' ~ trigger.digest ~ '\", \"size\": 28}' }}"
    # A template that builds the reference is refused before the step's plugin is called.
    built = chain("build-a-reference", {"id": "copy", "type": "noop/echo", "input": {"value": text + " | fromjson"}})
    built["nodes"][0]["input"]["value"] = "{{ (" + text[3:-3] + ") | fromjson }}"
    # A plugin that reads it out of outside data (here: JSON text it parses) makes an output holding it.
    copied = chain(
        "copy-a-reference",
        {"id": "copy", "type": "noop/parse", "input": {"value": text}},
        {"id": "read", "type": "noop/echo", "input": {"value": "{{ nodes.copy.output.value }}"}},
    )
    for workflow, refused_at in ((built, "copy"), (copied, "read")):
        theirs = (await _as_outsider(api, "POST", "/workflows", json=workflow)).json()
        path = f"/workflows/{theirs['id']}/run"
        run = await _as_outsider(api, "POST", path, json={"trigger_data": {"digest": ref["$blob"]}})
        assert run.status_code == 202, run.text
        execution_id = run.json()["execution_id"]
        for _ in range(600):
            view = (await _as_outsider(api, "GET", f"/executions/{execution_id}")).json()
            if view["execution"]["status"] in ("completed", "failed", "cancelled"):
                break
            await asyncio.sleep(0.05)
        # The plugin is not handed it, and the step says why (not retried: it would never pass).
        assert view["execution"]["status"] == "failed", view
        assert view["execution"]["error_node"] == refused_at and view["execution"]["error_type"] == "BlobNotFound"
        assert "was never given" in view["execution"]["error_message"]
        # The run page does not serve it, though the copying step's output names it.
        shown = await _as_outsider(api, "GET", f"/executions/{execution_id}/blobs/{ref['$blob']}")
        assert shown.status_code == 404
        # And the workspace was not granted it: a run naming it is refused as for a blob never stored.
        again = await _as_outsider(api, "POST", path, json={"trigger_data": {"file": ref}})
        assert again.status_code == 404 and again.json()["code"] == "blob_not_found"
    copy = next(s for s in view["steps"] if s["node_id"] == "copy")
    assert copy["output"]["value"]["$blob"] == ref["$blob"]  # what the parsing step returned, kept as it was
