"""The palette (GET /nodes) and validation without saving (POST /workflows/validate), in the agreed shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from synthral.api.app import close_server
from synthral.store.db import Database
from tests.support.api import PASSWORD, Api, make_state, serving
from tests.support.engine import chain
from tests.support.settings import GRANT_ALL

pytestmark = pytest.mark.slow

ITEM_KEYS = {
    "type", "plugin", "capability", "version", "versions", "builtin", "kind", "category", "title", "description",
    "icon", "config_schema", "operations", "default_operation", "handles", "secrets", "trigger_schema",
}  # fmt: skip


async def palette(api: Api, role: str = "viewer", **params: Any) -> list[dict[str, Any]]:
    answer = await api.call(role, "GET", "/nodes", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"items", "next_cursor"}
    return list(body["items"])


async def test_the_palette_lists_built_in_engine_and_plugin_types_with_handles(api: Api) -> None:
    items = {item["type"]: item for item in await palette(api)}
    assert all(set(item) == ITEM_KEYS for item in items.values())
    branch = items["core/if"]
    assert (branch["plugin"], branch["capability"], branch["builtin"], branch["kind"]) == ("core", "if", True, "node")
    assert branch["handles"] == {
        "inputs": [{"id": "main", "label": ""}],
        "outputs": [{"id": "true", "label": "true"}, {"id": "false", "label": "false"}],
        "dynamic_outputs": None,
        "error_output": True,
    }
    assert branch["default_operation"] == "run" and set(branch["operations"]["run"]) == {
        "description",
        "input_schema",
        "output_schema",
    }
    switch = items["core/switch"]["handles"]
    assert switch["outputs"] == [] and switch["dynamic_outputs"] == {
        "from_config": "/rules",
        "key": "branch",
        "fallback": "default",
        "fallback_from_config": "/fallback",
    }
    wait = items["core/wait"]
    assert set(wait["operations"]["run"]["output_schema"]["properties"]) == {"data", "fired_at", "scheduled_for"}
    mapper = items["engine/map"]
    assert (mapper["plugin"], mapper["kind"], mapper["builtin"], mapper["category"]) == (
        "engine",
        "engine",
        True,
        "Flow",
    )
    assert mapper["config_schema"]["properties"]["concurrency"]["maximum"] == 64
    echo = items["noop/echo"]
    assert (echo["plugin"], echo["version"], echo["versions"], echo["builtin"]) == ("noop", "1.0.0", ["1.0.0"], False)
    assert echo["handles"]["error_output"] is True and echo["trigger_schema"] is None
    ocr = items["ocr/extract"]
    assert (ocr["plugin"], ocr["kind"], ocr["builtin"], ocr["category"]) == ("ocr", "engine", True, "Documents")
    assert {"document", "documents"} <= set(ocr["operations"]["run"]["input_schema"]["properties"])
    assert ocr["handles"]["error_output"] is True
    node_types = (
        ("llm/chat", "AI"),
        ("llm/extract", "AI"),
        ("agent/run", "AI"),
        ("code/run", "Code"),
        ("code/tool", "Code"),
        ("rag/chunk", "Retrieval"),
        ("rag/embed", "Retrieval"),
        ("rag/upsert", "Retrieval"),
        ("rag/query", "Retrieval"),
        ("rag/rerank", "Retrieval"),
        ("rag/answer", "Retrieval"),
        ("scraping/crawl", "Web"),
        ("browser/run", "Web"),
        ("watch/page", "Web"),
    )
    for node_type, category in node_types:
        assert (items[node_type]["builtin"], items[node_type]["category"]) == (True, category), node_type
    assert all(item["title"] and item["category"] for item in items.values())


async def test_the_palette_is_searched_filtered_and_paged(api: Api) -> None:
    everything = await palette(api)
    assert [item["type"] for item in await palette(api, q="SWITCH")] == ["core/switch"]
    engine = await palette(api, kind="engine")
    assert {item["type"] for item in engine} == {
        "engine/map",
        "engine/subworkflow",
        "engine/human_input",
        "engine/wait_signal",
        "ocr/extract",
    }
    assert await palette(api, q="no such thing anywhere") == []
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await api.call("viewer", "GET", "/nodes", params=params)).json()
        seen += [item["type"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [item["type"] for item in everything]


async def test_the_palette_needs_a_member_of_the_workspace(api: Api) -> None:
    assert (await api.call("anonymous", "GET", "/nodes")).status_code == 401
    assert (await api.call("outsider", "GET", "/nodes")).status_code == 404
    bad_cursor = await api.call("viewer", "GET", "/nodes", params={"cursor": "%%%"})
    assert bad_cursor.status_code == 422 and bad_cursor.headers["content-type"] == "application/problem+json"


async def test_a_valid_workflow_validates_for_a_viewer_and_saves_as_is(api: Api) -> None:
    workflow = chain(
        "ok",
        {"id": "start", "type": "core/set", "config": {"values": {"n": 1}}},
        {"id": "echo", "type": "noop/echo", "input": {"value": "{{ nodes.start.output.data.n }}"}},
    )
    answer = await api.call("viewer", "POST", "/workflows/validate", json=workflow)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"valid": True, "problems": []}
    assert (await api.call("editor", "POST", "/workflows", json=workflow)).status_code == 201


async def test_every_problem_comes_back_with_its_node_and_json_pointer(api: Api) -> None:
    workflow = {
        "name": "bad",
        "nodes": [
            {"id": "start", "type": "core/if", "config": {"conditions": []}},
            {"id": "fetch", "type": "noop/echo", "input": {"value": "{{ nodes.nowhere.output }}"}},
            {"id": "typo", "type": "noop/ecko"},
        ],
        "edges": [
            {"source": "start", "target": "fetch", "handle": "true"},
            {"source": "start", "target": "typo", "handle": "maybe"},
            {"source": "fetch", "target": "ghost"},
        ],
    }
    answer = await api.call("viewer", "POST", "/workflows/validate", json=workflow)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["valid"] is False
    assert all(set(p) == {"node_id", "pointer", "message", "code", "severity"} for p in body["problems"])
    found = {(p["node_id"], p["pointer"], p["code"]) for p in body["problems"]}
    assert found == {
        ("start", "/config/conditions", "config_invalid"),
        ("typo", "/type", "unknown_node_type"),
        ("fetch", "/input/value", "unknown_reference"),
        (None, "/edges/1/handle", "bad_handle"),
        (None, "/edges/2", "edge_unknown_target"),
    }
    assert all(p["severity"] == "error" for p in body["problems"])
    typo = next(p for p in body["problems"] if p["node_id"] == "typo")
    assert "did you mean 'noop/echo'" in typo["message"]
    saved = await api.call("editor", "POST", "/workflows", json=workflow)
    assert saved.status_code == 422  # saving refuses what validation reports


async def test_shape_errors_are_problems_too_and_a_body_that_is_not_json_is_refused(api: Api) -> None:
    shapeless = {"nodes": [{"id": "a", "type": "core/noop", "config": 3}, {"type": "core/noop"}]}
    body = (await api.call("viewer", "POST", "/workflows/validate", json=shapeless)).json()
    found = {(p["node_id"], p["pointer"], p["code"]) for p in body["problems"]}
    assert found == {
        (None, "/name", "missing_field"),
        ("a", "/config", "invalid_field"),
        (None, "/nodes/1/id", "missing_field"),
    }
    assert body["valid"] is False
    not_an_object = (await api.call("viewer", "POST", "/workflows/validate", json=[1, 2])).json()
    assert not_an_object["valid"] is False and not_an_object["problems"][0]["pointer"] == ""
    garbage = await api.call(
        "viewer", "POST", "/workflows/validate", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 422 and garbage.headers["content-type"] == "application/problem+json"
    assert "not JSON" in garbage.json()["detail"]
    assert (await api.call("anonymous", "POST", "/workflows/validate", json=shapeless)).status_code == 401


async def test_the_palette_offers_the_newest_version_and_every_other(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    state, plugins = await make_state(database, tmp_path / "home", wheelhouse)
    await plugins.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
    await plugins.install(str(fixture_wheels["noop-2"]), grant=GRANT_ALL)
    user = await state.identity.create_user("owner@example.com", PASSWORD)
    await state.identity.create_workspace("acme", "Acme", owner_id=user.id)
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=60.0) as http:
        login = await http.post("/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        items = {item["type"]: item for item in (await http.get("/nodes")).json()["items"]}
        assert (items["noop/echo"]["version"], items["noop/echo"]["versions"]) == ("2.0.0", ["2.0.0", "1.0.0"])
        await plugins.set_enabled("noop", "2.0.0", False)
        items = {item["type"]: item for item in (await http.get("/nodes")).json()["items"]}
        assert (items["noop/echo"]["version"], items["noop/echo"]["versions"]) == ("1.0.0", ["1.0.0"])
    await close_server(state)
    await plugins.close()
