"""The OCR API end to end: real ocr-rapidocr and ocr-tesseract plugins, jobs as durable executions."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from synthral.engine.ocr_pace import PACE
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.store.db import Database
from synthral.store.ocr_tables import OCR_DOCUMENT, OCR_JOB
from tests.conftest import GRANT_ALL, REPO, make_settings
from tests.support.api import PASSWORD, Api, make_state, serving

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def untimed_engines() -> None:
    """Each test starts with no engine timed, so the router's first choice is the default one.

    The router's latency rule learns from every reading in the process: a slow reading in an
    earlier test (a loaded machine) would otherwise route later tests' printed text elsewhere.
    """
    PACE.forget()


@pytest.fixture(scope="session")
def ocr_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Iterator[Path]:
    """A home with the real ocr-rapidocr and ocr-tesseract plugins installed, made once."""
    home = tmp_path_factory.mktemp("ocr-home")

    async def install() -> None:
        async with PluginHost(make_settings(home, wheelhouse)) as plugins:
            for name in ("ocr-rapidocr", "ocr-tesseract"):
                await plugins.install(str(REPO / "plugins" / name), grant=GRANT_ALL)

    asyncio.run(install())
    return home


@pytest.fixture
async def ocr_api(database: Database, ocr_home: Path, wheelhouse: Path) -> AsyncIterator[Api]:
    state, plugins = await make_state(database, ocr_home, wheelhouse)
    identity = state.identity
    users = {}
    for role in ("owner", "editor", "viewer", "outsider"):
        users[role] = (await identity.create_user(f"{role}@example.com", PASSWORD)).id
    main = await identity.create_workspace("acme", "Acme", owner_id=users["owner"])
    other = await identity.create_workspace("globex", "Globex", owner_id=users["outsider"])
    await identity.add_member(main.id, users["editor"], "editor")
    await identity.add_member(main.id, users["viewer"], "viewer")
    worker = Worker(state.app.engine, concurrency=4, poll_interval=0.1)
    worker_task = asyncio.create_task(worker.run())
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=120.0) as http:
        tokens = {}
        for role in users:
            answer = await http.post("/auth/login", json={"email": f"{role}@example.com", "password": PASSWORD})
            tokens[role] = answer.json()["access_token"]
        yield Api(url, http, state, main.slug, other.slug, tokens, users)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await worker_task
    await state.oauth.close()
    await plugins.close()


def page(lines: tuple[str, ...] = ("Invoice number 4721", "Total amount due")) -> bytes:
    image = Image.new("L", (900, 80 + 70 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((40, 40 + 70 * index), line, font=ImageFont.load_default(size=40), fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def wait_job(api: Api, job_id: str, timeout: float = 240.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await api.call("viewer", "GET", f"/ocr/status/{job_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] in ("completed", "failed"):
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.2)


async def test_a_small_upload_is_read_at_once_by_the_default_engine_and_recorded(ocr_api: Api) -> None:
    answer = await ocr_api.call("editor", "POST", "/ocr/extract", files={"file": ("scan.png", page(), "image/png")})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["mode"], body["status"], body["execution_id"]) == ("inline", "completed", None)
    [doc] = body["documents"]
    assert doc["engine"] == "ocr-rapidocr/rapidocr"
    assert "printed text → rapidocr" in doc["reason"]
    assert "4721" in doc["text"] and doc["sources"] == ["ocr"]
    # The reading timed the engine for the router's latency rule.
    assert set(PACE.per_page()) == {"rapidocr"}
    result = await ocr_api.call("viewer", "GET", f"/ocr/jobs/{body['job_id']}/documents/0/result")
    words = [w["text"] for p in result.json()["pages"] for b in p["blocks"] for w in b["words"]]
    assert "4721" in words
    async with ocr_api.state.app.database.engine.connect() as connection:
        job = (await connection.execute(select(OCR_JOB).where(OCR_JOB.c.id == body["job_id"]))).one()
        row = (await connection.execute(select(OCR_DOCUMENT).where(OCR_DOCUMENT.c.job_id == job.id))).one()
    assert (job.status, row.engine, row.reason) == ("completed", "ocr-rapidocr/rapidocr", doc["reason"])


async def test_a_job_runs_as_a_durable_execution_with_hints_and_an_empty_page_falls_back_to_tesseract(
    ocr_api: Api,
) -> None:
    blank = io.BytesIO()
    Image.new("L", (600, 400), 255).save(blank, format="PNG")
    uploads = [("file", ("a.png", page(), "image/png")), ("file", ("blank.png", blank.getvalue(), "image/png"))]
    options = json.dumps({"latency": "low", "layout": "table"})
    answer = await ocr_api.call("editor", "POST", "/ocr/batch", files=uploads, data={"options": options})
    assert answer.status_code == 202, answer.text
    started = answer.json()
    assert started["mode"] == "job" and started["execution_id"]
    done = await wait_job(ocr_api, started["job_id"])
    assert done["status"] == "completed", done
    first, empty = done["documents"]
    assert "table layout wants doctr, which is not installed" in first["reason"]
    assert first["engine"] == "ocr-rapidocr/rapidocr" and "4721" in first["text"]
    assert empty["engine"] == "ocr-tesseract/tesseract"
    assert "rapidocr found no text → fell back to tesseract" in empty["reason"]
    assert [a["engine"] for a in empty["attempts"]] == ["ocr-rapidocr/rapidocr", "ocr-tesseract/tesseract"]
    execution = await ocr_api.call("viewer", "GET", f"/executions/{started['execution_id']}")
    assert execution.json()["execution"]["status"] == "completed"


async def test_a_bad_document_fails_alone_with_its_reason_and_the_batch_goes_on(ocr_api: Api) -> None:
    uploads = [
        ("file", ("notes.txt", b"this is not a picture of anything", "text/plain")),
        ("file", ("a.png", page(), "image/png")),
    ]
    answer = await ocr_api.call("editor", "POST", "/ocr/batch", files=uploads)
    done = await wait_job(ocr_api, answer.json()["job_id"])
    bad, good = done["documents"]
    assert bad["status"] == "failed" and "neither a PDF nor an image" in bad["error"]
    assert good["status"] == "completed" and "4721" in good["text"]


async def test_a_blob_reference_with_wait_false_becomes_a_job(ocr_api: Api) -> None:
    uploaded = await ocr_api.call("editor", "POST", "/blobs", files={"file": ("a.png", page(), "image/png")})
    answer = await ocr_api.call(
        "editor",
        "POST",
        "/ocr/extract",
        json={"document": uploaded.json(), "options": {"engine": "tesseract"}, "wait": False},
    )
    assert answer.status_code == 202, answer.text
    done = await wait_job(ocr_api, answer.json()["job_id"])
    [doc] = done["documents"]
    assert doc["engine"] == "ocr-tesseract/tesseract" and doc["reason"] == "engine tesseract set on the node"


async def test_an_uploaded_document_is_read_in_its_workspace_and_its_result_goes_on_to_runs(ocr_api: Api) -> None:
    uploaded = await ocr_api.call("editor", "POST", "/blobs", files={"file": ("scan.png", page(), "image/png")})
    ref = uploaded.json()
    answer = await ocr_api.call("editor", "POST", "/ocr/extract", json={"document": ref})
    assert answer.status_code == 200, answer.text
    [doc] = answer.json()["documents"]
    assert "4721" in doc["text"]
    keep = {"name": "keep", "nodes": [{"id": "start", "type": "core/noop"}]}
    workflow = (await ocr_api.call("editor", "POST", "/workflows", json=keep)).json()
    trigger = {"trigger_data": {"scan": ref, "read": doc["result"]}}
    run = await ocr_api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json=trigger)
    assert run.status_code == 202, run.text

    outsider = ocr_api.headers("outsider", workspace=ocr_api.other_workspace)
    refused = await ocr_api.http.post("/ocr/extract", json={"document": doc["result"]}, headers=outsider)
    assert refused.status_code == 404 and refused.json()["code"] == "blob_not_found", refused.text


async def test_roles_and_workspaces_guard_every_route(ocr_api: Api) -> None:
    files = {"file": ("scan.png", page(), "image/png")}
    assert (await ocr_api.call("anonymous", "POST", "/ocr/extract", files=files)).status_code == 401
    assert (await ocr_api.call("viewer", "POST", "/ocr/extract", files=files)).status_code == 403
    made = await ocr_api.call("editor", "POST", "/ocr/extract", files=files)
    job_id = made.json()["job_id"]
    outsider = await ocr_api.http.get(
        f"/ocr/status/{job_id}", headers=ocr_api.headers("outsider", workspace=ocr_api.other_workspace)
    )
    assert outsider.status_code == 404


async def test_bad_requests_get_problems_that_say_what_to_send(ocr_api: Api) -> None:
    missing = await ocr_api.call(
        "editor", "POST", "/ocr/extract", json={"document": {"$blob": "sha256:" + "0" * 64, "size": 3}}
    )
    assert missing.status_code == 404 and missing.json()["code"] == "blob_not_found"
    assert "upload the file in this workspace first (POST /api/v1/blobs" in missing.json()["detail"]
    unknown = await ocr_api.call("editor", "POST", "/ocr/extract", files={"file": ("a.png", page(), "image/png")},
                                 data={"options": json.dumps({"colour": "blue"})})  # fmt: skip
    assert unknown.status_code == 422 and "option 'colour'" in unknown.json()["detail"]
    not_ready = await ocr_api.call("editor", "POST", "/ocr/extract", files={"file": ("a.png", page(), "image/png")},
                                   data={"options": json.dumps({"engine": "doctr"})})  # fmt: skip
    body = not_ready.json()
    assert (
        body["status"] == "failed"
        and "no installed, enabled OCR engine is called 'doctr'" in body["documents"][0]["error"]
    )
    engines = await ocr_api.call("viewer", "GET", "/ocr/engines")
    assert engines.json()["ready"] == {"rapidocr": "ocr-rapidocr/rapidocr", "tesseract": "ocr-tesseract/tesseract"}


async def test_an_upload_streams_through_the_gate_and_is_cut_off_past_the_limit(
    database: Database, noop_home: Path, wheelhouse: Path
) -> None:
    state, plugins = await make_state(database, noop_home, wheelhouse, limits={"max_upload": 64 * 1024})
    ada = await state.identity.create_user("ada@example.com", PASSWORD)
    await state.identity.create_workspace("acme", "Acme", owner_id=ada.id)
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=60) as http:
        token = (await http.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "X-Workspace": "acme"}
        boundary = "synthral-test-boundary"

        async def chunks() -> AsyncIterator[bytes]:
            # No Content-Length: the gate can only count what arrives.
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
                   "Content-Type: image/png\r\n\r\n").encode()  # fmt: skip
            for _ in range(32):
                yield b"\0" * 4096
            yield f"\r\n--{boundary}--\r\n".encode()

        answer = await http.post(
            "/ocr/extract",
            content=chunks(),
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert answer.status_code == 413, answer.text
        assert answer.json()["detail"] == "the upload is over the limit of 65536 bytes"
    await state.oauth.close()
    await plugins.close()
