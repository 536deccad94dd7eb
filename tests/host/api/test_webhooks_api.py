"""Webhook ingress over HTTP: Standard Webhooks signatures, rotation, dedupe, durable before the 2xx."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from sqlalchemy import event

from synthral_sdk.webhooks import sign_standard_webhook
from tests.support.api import Api, wait_for
from tests.support.engine import chain

pytestmark = pytest.mark.slow

HOOKED = chain(
    "hooked",
    {"id": "echo", "type": "noop/echo", "input": {"value": "{{ trigger.body.order }}"}},
    triggers=[{"type": "webhook"}],
)


async def _subscription(api: Api) -> tuple[str, str]:
    workflow = (await api.call("editor", "POST", "/workflows", json=HOOKED)).json()
    made = await api.call("editor", "POST", f"/workflows/{workflow['id']}/webhook")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["scheme"] == "standard-webhooks" and body["secret"].startswith("whsec_")
    return body["url"].split("/api/v1", 1)[1], body["secret"]


def _signed(secret: str, body: bytes, *, msg_id: str = "msg_1", stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard_webhook(secret, msg_id, stamp, body),
        "content-type": "application/json",
    }


async def test_a_signed_delivery_is_stored_then_runs(api: Api) -> None:
    path, secret = await _subscription(api)
    body = orjson.dumps({"order": 42})
    answer = await api.http.post(path, content=body, headers=_signed(secret, body))
    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["execution_id"]
    stored = await api.state.app.workflows.execution(execution_id)  # durable before the 2xx
    assert stored.execution["trigger"] == "webhook"
    done = await wait_for(api, execution_id)
    assert done["execution"]["output"]["echo"]["value"] == 42


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "re-serialised body", "missing headers", "timestamp 301 s off", "unknown workflow"],
)
async def test_bad_deliveries_are_refused_and_start_nothing(api: Api, case: str) -> None:
    path, secret = await _subscription(api)
    body = b'{"order": 42,  "note": "spaces matter"}'
    headers = _signed(secret, body)
    sent = body
    if case == "wrong secret":
        headers = _signed("whsec_" + "A" * 32, body)
    elif case == "re-serialised body":
        sent = orjson.dumps(orjson.loads(body))
    elif case == "missing headers":
        headers = {"content-type": "application/json"}
    elif case == "timestamp 301 s off":
        headers = _signed(secret, body, stamp=int(time.time()) - 301)
    elif case == "unknown workflow":
        path = "/hooks/00000000-0000-0000-0000-000000000000"
    answer = await api.http.post(path, content=sent, headers=headers)
    assert answer.status_code == (404 if case == "unknown workflow" else 401), answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    listing = await api.call("viewer", "GET", "/executions")
    assert listing.json()["items"] == []


async def test_the_same_delivery_ten_times_at_once_starts_one_run(api: Api) -> None:
    path, secret = await _subscription(api)
    body = orjson.dumps({"order": 7})
    headers = _signed(secret, body, msg_id="msg_dup")
    answers = await asyncio.gather(*(api.http.post(path, content=body, headers=headers) for _ in range(10)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["execution_id"] for a in answers}) == 1
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    listing = await api.call("viewer", "GET", "/executions")
    assert len(listing.json()["items"]) == 1


async def test_rotation_keeps_the_previous_secret_valid_until_the_next(api: Api) -> None:
    path, first = await _subscription(api)
    workflow_id = path.rsplit("/", 1)[1]
    second = (await api.call("editor", "POST", f"/workflows/{workflow_id}/webhook")).json()["secret"]
    body = b'{"order": 1}'
    for msg_id, secret in (("a", first), ("b", second)):
        assert (
            await api.http.post(path, content=body, headers=_signed(secret, body, msg_id=msg_id))
        ).status_code == 202
    await api.call("editor", "POST", f"/workflows/{workflow_id}/webhook")
    stale = await api.http.post(path, content=body, headers=_signed(first, body, msg_id="c"))
    assert stale.status_code == 401
    # The secrets live encrypted in the workspace's credentials; listing shows them masked.
    listing = await api.call("editor", "GET", "/credentials")
    assert first not in listing.text and second not in listing.text


async def test_a_workflow_without_a_webhook_trigger_has_no_subscription(api: Api) -> None:
    plain = (
        await api.call("editor", "POST", "/workflows", json=chain("plain", {"id": "a", "type": "core/set"}))
    ).json()
    answer = await api.call("editor", "POST", f"/workflows/{plain['id']}/webhook")
    assert answer.status_code == 400 and "webhook trigger" in answer.json()["detail"]
    delivery = await api.http.post(f"/hooks/{plain['id']}", content=b"{}")
    assert delivery.status_code == 404


async def test_an_expired_subscription_is_read_once_for_deliveries_arriving_together(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, secret = await _subscription(api)
    workflow_id = path.rsplit("/", 1)[1]
    webhooks = api.state.webhooks
    body = b'{"order": 0}'
    await webhooks.receive(workflow_id, _signed(secret, body, msg_id="warm"), body)
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM workflow " in statement.replace("\n", " "):
            reads.append(statement)

    engine = api.state.app.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        monkeypatch.setattr("synthral.services.webhooks.CACHE_SECONDS", 0.0)
        deliveries = await asyncio.gather(
            *(webhooks.receive(workflow_id, _signed(secret, body, msg_id=f"m{i}"), body) for i in range(20))
        )
        while webhooks._loading:  # the one background read
            await asyncio.sleep(0.01)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len({d.execution_id for d in deliveries}) == 20 and not any(d.duplicate for d in deliveries)
    assert len(reads) == 1, reads


async def test_a_delivery_naming_a_blob_its_workspace_was_not_given_is_refused_and_queues_nothing(api: Api) -> None:
    path, secret = await _subscription(api)
    headers = api.headers("outsider", workspace=api.other_workspace)
    globex_file = {"file": ("a.pdf", b"%PDF globex", "application/pdf")}
    foreign = (await api.http.post("/blobs", files=globex_file, headers=headers)).json()
    body = orjson.dumps({"order": 7, "attachment": foreign})
    answer = await api.http.post(path, content=body, headers=_signed(secret, body))
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "blob_not_found" and "POST /api/v1/blobs" in answer.json()["detail"]
    escaped = body.replace(b'"$blob"', b'"\\u0024blob"')  # the same key, spelled with an escape
    answer = await api.http.post(path, content=escaped, headers=_signed(secret, escaped, msg_id="msg_3"))
    assert answer.status_code == 404 and answer.json()["code"] == "blob_not_found", answer.text
    assert (await api.call("viewer", "GET", "/executions")).json()["items"] == []

    acme_file = {"file": ("b.pdf", b"%PDF acme", "application/pdf")}
    mine = (await api.call("editor", "POST", "/blobs", files=acme_file)).json()
    body = orjson.dumps({"order": 8, "attachment": mine})
    accepted = await api.http.post(path, content=body, headers=_signed(secret, body, msg_id="msg_2"))
    assert accepted.status_code == 202, accepted.text
    assert (await wait_for(api, accepted.json()["execution_id"]))["execution"]["status"] == "completed"
