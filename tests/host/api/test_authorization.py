"""Every route (and the WebSocket) for owner, editor, viewer, a member of another workspace, anonymous."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from tests.support.api import Api, wait_for
from tests.support.engine import chain

pytestmark = pytest.mark.slow

RANK = {"viewer": 1, "editor": 2, "owner": 3}
PUBLIC = {
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("GET", "/auth/oidc/login"),
    ("GET", "/auth/oidc/callback"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/connectors/{slug}/callback"),
    ("POST", "/connectors/{slug}/webhook"),
    ("POST", "/hooks/{workflow_id}"),
    ("GET", "/auth/methods"),
}
# Routes for any signed-in user: they act on the caller's own account, not on a workspace.
ACCOUNT = {
    ("GET", "/auth/me"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/api-keys"),
    ("DELETE", "/auth/api-keys/{key_id}"),
    ("POST", "/auth/totp"),
    ("POST", "/auth/totp/confirm"),
    ("POST", "/auth/totp/disable"),
    ("POST", "/workspaces"),
    ("GET", "/workspaces"),
    ("GET", "/auth/account"),
}
# (method, path, least role, body)
WORKSPACE: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("POST", "/auth/api-keys", "viewer", {"name": "ci"}),
    ("GET", "/workflows", "viewer", None),
    ("POST", "/workflows/validate", "viewer", {"name": "v", "nodes": [{"id": "a", "type": "core/noop"}]}),
    ("GET", "/nodes", "viewer", None),
    ("POST", "/workflows", "editor", chain("made-in-matrix", {"id": "a", "type": "core/set"})),
    ("GET", "/workflows/{workflow_id}", "viewer", None),
    ("PUT", "/workflows/{workflow_id}", "editor", chain("matrix", {"id": "a", "type": "core/set"})),
    ("DELETE", "/workflows/{workflow_id}", "editor", None),
    ("GET", "/workflows/{workflow_id}/versions", "viewer", None),
    ("POST", "/workflows/{workflow_id}/run", "editor", {}),
    ("GET", "/workflows/{workflow_id}/executions", "viewer", None),
    ("POST", "/workflows/{workflow_id}/webhook", "editor", None),
    ("GET", "/executions", "viewer", None),
    ("GET", "/executions/{execution_id}", "viewer", None),
    ("POST", "/executions/{execution_id}/replay", "editor", {}),
    ("POST", "/executions/{execution_id}/cancel", "editor", None),
    ("POST", "/executions/{execution_id}/pause", "editor", None),
    ("POST", "/executions/{execution_id}/resume", "editor", None),
    ("POST", "/executions/{execution_id}/signal", "editor", {"name": "x"}),
    ("GET", "/plugins", "viewer", None),
    ("POST", "/plugins", "owner", None),
    ("GET", "/plugins/{name}", "viewer", None),
    ("POST", "/plugins/{name}/disable", "owner", None),
    ("POST", "/plugins/{name}/enable", "owner", None),
    ("DELETE", "/plugins/{name}", "owner", None),
    ("DELETE", "/plugins/{name}/versions/{version}", "owner", None),
    ("POST", "/plugins/{name}/upgrade-check", "owner", {"version": "2.0.0"}),
    ("POST", "/plugins/{name}/upgrade", "owner", {"version": "2.0.0"}),
    ("POST", "/plugins/{name}/rollback", "owner", None),
    ("POST", "/connectors/register", "owner", None),
    ("GET", "/connectors/list", "viewer", None),
    ("PUT", "/connectors/{slug}/client", "owner", {"client_id": "c"}),
    ("POST", "/connectors/{slug}/authorize", "editor", None),
    ("POST", "/connectors/{slug}/rotate", "owner", {}),
    ("GET", "/connectors/{slug}/docs", "viewer", None),
    ("POST", "/connectors/{slug}/test", "editor", {}),
    ("POST", "/connectors/{slug}/{action}", "editor", {}),
    ("GET", "/credentials", "editor", None),
    ("PUT", "/credentials/{name}", "editor", {"value": "s3cret-value"}),
    ("DELETE", "/credentials/{name}", "editor", None),
    ("PUT", "/workspace/members", "owner", {"email": "viewer@example.com", "role": "viewer"}),
    ("DELETE", "/workspace/members/{user_id}", "owner", None),
    ("POST", "/code/execute", "editor", {"code": "print(1)"}),
    ("GET", "/code/runs/{run_id}", "viewer", None),
    ("POST", "/code/register-tool", "editor", {"name": "matrix_tool", "code": "result = 1"}),
    ("GET", "/code/tools", "viewer", None),
    ("GET", "/code/quota", "viewer", None),
    ("PUT", "/code/quota", "owner", {"cpu_seconds_per_day": 100}),
    ("GET", "/code/sandboxes", "viewer", None),
    ("PUT", "/code/sandboxes/{name}", "owner", {"runtime": "code-wasi/wasi"}),
    ("POST", "/blobs", "editor", None),
    ("POST", "/ocr/extract", "editor", {"document": {"$blob": "sha256:" + "0" * 64, "size": 3}}),
    ("POST", "/ocr/batch", "editor", {"documents": [{"$blob": "sha256:" + "0" * 64, "size": 3}]}),
    ("GET", "/ocr/status/{job_id}", "viewer", None),
    ("GET", "/ocr/jobs/{job_id}/documents/{position}/result", "viewer", None),
    ("GET", "/ocr/engines", "viewer", None),
    ("GET", "/workflows/{workflow_id}/schedules", "viewer", None),
    ("GET", "/workflows/{workflow_id}/webhook", "viewer", None),
    ("GET", "/executions/{execution_id}/blobs/{digest}", "viewer", None),
    ("GET", "/workspace/members", "viewer", None),
    ("GET", "/admin/health", "owner", None),
    ("POST", "/admin/replay", "owner", {"execution_ids": ["no-such-run"]}),
    ("GET", "/admin/processes", "owner", None),
    ("GET", "/audit", "owner", None),
    ("GET", "/audit/verify", "owner", None),
    ("GET", "/analytics/costs", "owner", None),
    ("POST", "/agents/run", "editor", {"task": "x", "config": {"llm": {"model": "m"}}}),
    ("GET", "/agents/status/{task_id}", "viewer", None),
    ("POST", "/agents/switch/evaluate", "viewer", {}),
    ("GET", "/agents/catalog", "viewer", None),
    ("GET", "/mcp/tools", "viewer", None),
    ("PUT", "/mcp/tools/{tool_name}", "editor", {"workflow": "nope"}),
    ("DELETE", "/mcp/tools/{tool_name}", "editor", None),
    ("POST", "/rag/index", "editor", {"name": "matrix-index"}),
    ("GET", "/rag/indexes", "viewer", None),
    ("GET", "/rag/indexes/{name}", "viewer", None),
    ("DELETE", "/rag/indexes/{name}", "editor", None),
    ("DELETE", "/rag/indexes/{name}/documents/{key}", "editor", None),
    ("POST", "/rag/query", "viewer", {"index": "matrix-index", "query": "q"}),
    ("POST", "/rag/switch/evaluate", "editor", {}),
    ("GET", "/rag/switch/logs", "viewer", None),
    ("POST", "/scraping/scrape", "editor", {"url": "http://127.0.0.1:9/"}),
    ("POST", "/scraping/crawl", "editor", {"seeds": ["http://127.0.0.1:9/"]}),
    ("GET", "/scraping/status/{job_id}", "viewer", None),
    ("GET", "/scraping/status/{job_id}/pages", "viewer", None),
    ("POST", "/scraping/status/{job_id}/cancel", "editor", None),
    ("POST", "/scraping/change-detection", "editor", {"url": "http://127.0.0.1:9/", "check_now": False}),
    ("GET", "/scraping/change-detection/{watch_id}", "viewer", None),
    ("POST", "/scraping/change-detection/{watch_id}/check", "editor", None),
    ("PUT", "/scraping/domains/{domain}", "owner", {"requests_per_second": 2}),
    ("GET", "/scraping/domains/{domain}", "viewer", None),
    ("GET", "/scraping/proxy-log", "viewer", None),
    ("POST", "/browser/execute", "editor", {"actions": [{"action": "goto", "url": "http://127.0.0.1:9/"}]}),
    ("POST", "/browser/monitor", "editor", {"url": "http://127.0.0.1:9/", "check_now": False}),
    ("GET", "/browser/session/{session_id}", "viewer", None),
    ("POST", "/browser/session/{session_id}/close", "editor", None),
    ("POST", "/chat", "viewer", {"prompt": "what can you do?"}),
    ("POST", "/chat/conversations/{conversation_id}/actions/{action_id}", "viewer", {"decision": "reject"}),
    ("GET", "/chat/conversations", "viewer", None),
    ("GET", "/chat/conversations/{conversation_id}", "viewer", None),
    ("DELETE", "/chat/conversations/{conversation_id}", "viewer", None),
    ("GET", "/chat/settings", "viewer", None),
    ("PUT", "/chat/settings", "owner", {"llm": {"model": "gpt-4o-mini"}}),
    ("POST", "/osint/stream", "editor", {"name": "matrix", "source": "noop/feed", "config": {"url": "http://x/"}}),
    ("GET", "/osint/streams", "viewer", None),
    ("PATCH", "/osint/streams/{stream_id}", "editor", {"active": False}),
    ("DELETE", "/osint/streams/{stream_id}", "editor", None),
    ("POST", "/osint/alerts", "editor", {"name": "matrix", "workflow_id": "no-such-workflow"}),
    ("GET", "/osint/alerts", "viewer", None),
    ("PATCH", "/osint/alerts/{alert_id}", "editor", {"active": False}),
    ("DELETE", "/osint/alerts/{alert_id}", "editor", None),
    ("POST", "/osint/digest", "viewer", {}),
    ("GET", "/osint/digests", "viewer", None),
    ("PATCH", "/osint/digests/{digest_id}", "editor", {"cron": "0 9 * * *"}),
    ("DELETE", "/osint/digests/{digest_id}", "editor", None),
]


def _routes(api: Api) -> set[tuple[str, str]]:
    from synthral.api.app import create_app

    schema = create_app(api.state).openapi()
    return {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in schema["paths"].items()
        for method in operations
    }


def test_every_route_is_in_the_matrix(api: Api) -> None:
    covered = PUBLIC | ACCOUNT | {(method, path) for method, path, _, _ in WORKSPACE}
    missing = _routes(api) - covered
    assert not missing, f"add these routes to the authorization matrix: {sorted(missing)}"
    assert not (covered - _routes(api) - {("GET", "/openapi.json"), ("GET", "/docs")}), "stale matrix rows"


async def _objects(api: Api) -> dict[str, str]:
    made = await api.call("owner", "POST", "/workflows", json=chain("matrix", {"id": "a", "type": "core/set"}))
    workflow = made.json()
    run = (await api.call("owner", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    await wait_for(api, run["execution_id"])
    return {
        "workflow_id": workflow["id"],
        "execution_id": run["execution_id"],
        "name": "not-installed",
        "version": "1.0.0",
        "slug": "no-such-connector",
        "action": "act",
        "user_id": api.users["viewer"],
        "key_id": "no-such-key",
        "run_id": "no-such-run",
        "job_id": "no-such-job",
        "position": "0",
        "digest": "sha256:" + "0" * 64,
        "task_id": "no-such-task",
        "tool_name": "no-such-tool",
        "key": "no-such-document",
        "watch_id": "no-such-watch",
        "session_id": "no-such-session",
        "domain": "shop.example.com",
        "conversation_id": "no-such-conversation",
        "action_id": "no-such-action",
        "stream_id": "no-such-stream",
        "alert_id": "no-such-alert",
        "digest_id": "no-such-digest",
    }


@pytest.mark.parametrize("role", ["owner", "editor", "viewer", "outsider", "anonymous"])
async def test_each_role_gets_exactly_what_it_may(api: Api, role: str) -> None:
    ids = await _objects(api)
    wrong: list[str] = []
    for method, template, least, body in WORKSPACE:
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
        if method == "DELETE" and template.startswith("/workflows/") and role in RANK and RANK[role] >= RANK[least]:
            continue  # deleting is checked by the roles below it; allowed deletes have their own tests
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        answer = await api.call(role, method, path, **kwargs)
        if role == "anonymous":
            expected: set[int] | None = {401}
        elif role == "outsider":
            expected = {404}
        elif RANK[role] < RANK[least]:
            expected = {403}
        else:
            expected = None
        if expected is not None and answer.status_code not in expected:
            wrong.append(f"{method} {template}: {answer.status_code}, expected {expected}: {answer.text[:200]}")
        if (expected is None and answer.status_code in (401, 403)) or answer.status_code >= 500:
            wrong.append(f"{method} {template}: {answer.status_code} for {role}: {answer.text[:200]}")
        if answer.status_code >= 400:
            assert answer.headers["content-type"] == "application/problem+json", (method, template)
    assert not wrong, "\n".join(wrong)


async def test_account_routes_need_a_sign_in(api: Api) -> None:
    for method, path in ACCOUNT:
        answer = await api.http.request(method, path.replace("{key_id}", "x"))
        assert answer.status_code == 401, (method, path)
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_a_viewer_cannot_read_credentials_an_editor_sees_them_masked(api: Api) -> None:
    await api.call("owner", "PUT", "/credentials/stripe", json={"value": "sk_live_0123456789abcdef"})
    assert (await api.call("viewer", "GET", "/credentials")).status_code == 403
    listing = await api.call("editor", "GET", "/credentials")
    assert listing.status_code == 200
    assert "sk_live_0123456789abcdef" not in listing.text
    assert listing.json()["items"][0]["masked"].endswith("cdef") and listing.json()["next_cursor"] is None


async def _ws(api: Api, first: dict[str, Any] | None) -> list[dict[str, Any]]:
    url = api.url.replace("http://", "ws://") + "/api/v1/ws"
    messages = []
    async with connect(url) as socket:
        if first is not None:
            await socket.send(orjson.dumps(first).decode())
        async for raw in socket:
            message = orjson.loads(raw)
            messages.append(message)
            if message["type"] in ("ready", "error"):
                break
    return messages


async def test_the_websocket_checks_who_subscribes(api: Api) -> None:
    anonymous = await _ws(api, {"type": "subscribe"})
    assert anonymous[-1]["type"] == "error" and "authenticate" in anonymous[-1]["detail"]
    forged = await _ws(api, {"type": "auth", "token": "not-a-token", "workspace": "acme"})
    assert forged[-1]["type"] == "error"
    outsider = await _ws(api, {"type": "auth", "token": api.tokens["outsider"], "workspace": "acme"})
    assert outsider[-1]["type"] == "error" and "workspace" in outsider[-1]["detail"]
    viewer = await _ws(api, {"type": "auth", "token": api.tokens["viewer"], "workspace": "acme"})
    assert viewer[-1]["type"] == "ready"


async def test_every_listing_has_the_documented_items_and_next_cursor_shape(api: Api) -> None:
    ids = await _objects(api)
    schema = (await api.http.get("/openapi.json")).json()
    listings = []
    for path, operations in schema["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        body = answer.get("content", {}).get("application/json", {}).get("schema", {})
        if body.get("type") == "array":
            listings.append(path)
    assert listings == [], f"these GET routes answer a bare array, not {{items, next_cursor}}: {listings}"
    for path in ("/plugins", "/workflows/{workflow_id}/versions", "/auth/api-keys", "/workspaces",
                 "/connectors/list", "/credentials", "/workflows", "/executions"):  # fmt: skip
        answer = await api.call("owner", "GET", re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path))
        assert answer.status_code == 200, (path, answer.text)
        assert set(answer.json()) == {"items", "next_cursor"}, path
