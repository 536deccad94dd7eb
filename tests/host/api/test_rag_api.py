"""The RAG routes on a real server with the default plugins: documents, queries, the router, roles, workspaces."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from synthral.store.db import Database
from tests.support.api import PASSWORD, Api, make_state, serving
from tests.support.rag import rag_home

__all__ = ["rag_home"]

CATS = "Cats sleep most of the day. A cat purrs when it is content."
RATES = "The central bank raised interest rates by half a point to fight inflation."


@pytest.fixture
async def api(database: Database, rag_home: Path, wheelhouse: Path) -> AsyncIterator[Api]:
    state, plugins = await make_state(database, rag_home, wheelhouse)
    identity = state.identity
    users = {
        role: (await identity.create_user(f"{role}@example.com", PASSWORD)).id
        for role in ("owner", "editor", "viewer", "outsider")
    }
    main = await identity.create_workspace("acme", "Acme", owner_id=users["owner"])
    other = await identity.create_workspace("globex", "Globex", owner_id=users["outsider"])
    await identity.add_member(main.id, users["editor"], "editor")
    await identity.add_member(main.id, users["viewer"], "viewer")
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=60.0) as http:
        tokens = {}
        for role in users:
            answer = await http.post("/auth/login", json={"email": f"{role}@example.com", "password": PASSWORD})
            tokens[role] = answer.json()["access_token"]
        yield Api(url, http, state, main.slug, other.slug, tokens, users)
    with contextlib.suppress(Exception):
        await state.oauth.close()
    await plugins.close()


async def test_documents_go_in_are_found_replaced_and_deleted_through_the_api(api: Api) -> None:
    body = {
        "name": "handbook",
        "documents": [
            {"key": "cats", "text": CATS, "metadata": {"team": "pets"}},
            {"key": "rates", "text": RATES, "metadata": {"team": "finance"}},
        ],
    }
    answer = await api.call("editor", "POST", "/rag/index", json=body)
    assert answer.status_code == 200, answer.text
    made = answer.json()
    assert made["decision"]["store"] == "vector-lancedb/lancedb"
    assert made["decision"]["rule"] == "file_size" or "lightrag is not installed" in made["decision"]["reason"]
    assert [d["status"] for d in made["documents"]] == ["added", "added"]
    assert made["index"]["embedding_model"] == "model2vec/all-MiniLM-L6-v2-256"

    query = {"index": "handbook", "query": "do cats purr?", "top_k": 2}
    found = (await api.call("viewer", "POST", "/rag/query", json=query)).json()
    assert found["hits"][0]["document_key"] == "cats" and found["hits"][0]["metadata"]["team"] == "pets"
    only_finance = {**query, "filter": {"team": "finance"}}
    assert [
        h["document_key"] for h in (await api.call("viewer", "POST", "/rag/query", json=only_finance)).json()["hits"]
    ] == ["rates"]

    changed = {"name": "handbook", "documents": [{"key": "cats", "text": "Dogs bark at the mail carrier."}]}
    again = (await api.call("editor", "POST", "/rag/index", json=changed)).json()
    assert again["decision"] is None and again["documents"][0]["status"] == "replaced"
    hits = (await api.call("viewer", "POST", "/rag/query", json={**query, "query": "purring cats"})).json()["hits"]
    assert all("purr" not in h["text"] for h in hits)

    gone = await api.call("editor", "DELETE", "/rag/indexes/handbook/documents/cats")
    assert gone.json() == {"key": "cats", "status": "deleted", "chunks": 1}
    assert (await api.call("viewer", "GET", "/rag/indexes/handbook")).json()["document_count"] == 1


async def test_the_router_is_evaluated_and_its_decisions_listed(api: Api) -> None:
    answer = await api.call("editor", "POST", "/rag/switch/evaluate", json={"requires_metadata": True})
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert decision["store"] == "vector-lancedb/lancedb" and decision["rule"] == "default"
    assert (
        "queries need metadata filtering, but weaviate is not installed; qdrant is not installed" in decision["reason"]
    )
    pinned = await api.call("editor", "POST", "/rag/switch/evaluate", json={"store": "lancedb"})
    assert pinned.json()["rule"] == "override"
    missing = await api.call("editor", "POST", "/rag/switch/evaluate", json={"store": "milvus"})
    assert missing.status_code == 400 and missing.json()["code"] == "no_vector_store"
    logs = (await api.call("viewer", "GET", "/rag/switch/logs")).json()["items"]
    assert [entry["rule"] for entry in logs] == ["override", "default"]
    assert logs[1]["facts"]["requires_metadata"] is True
    page = (await api.call("viewer", "GET", "/rag/switch/logs", params={"limit": 1})).json()
    rest = (
        await api.call("viewer", "GET", "/rag/switch/logs", params={"limit": 1, "cursor": page["next_cursor"]})
    ).json()
    assert [page["items"][0]["id"], rest["items"][0]["id"]] == [logs[0]["id"], logs[1]["id"]] and rest[
        "next_cursor"
    ] is None
    bad = await api.call("viewer", "GET", "/rag/switch/logs", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and "next_cursor" in bad.json()["detail"]


async def test_bad_requests_get_problems_that_say_what_to_fix(api: Api) -> None:
    await api.call("editor", "POST", "/rag/index", json={"name": "kb", "documents": [{"key": "a", "text": CATS}]})
    other_embedder = await api.call(
        "viewer", "POST", "/rag/query", json={"index": "kb", "query": "x", "embedder": "embed-openai-compatible/openai"}
    )
    assert other_embedder.status_code == 409 and other_embedder.json()["code"] == "embedder_mismatch"
    assert "embed-model2vec/model2vec" in other_embedder.json()["detail"]
    unknown = await api.call("viewer", "POST", "/rag/query", json={"index": "nope", "query": "x"})
    assert unknown.status_code == 404 and "POST /api/v1/rag/index" in unknown.json()["detail"]
    bad_name = await api.call("editor", "POST", "/rag/index", json={"name": "../etc"})
    assert bad_name.status_code == 422
    reserved = await api.call(
        "editor",
        "POST",
        "/rag/index",
        json={"name": "kb", "documents": [{"key": "b", "text": "x", "metadata": {"chunk": 1}}]},
    )
    assert reserved.status_code == 422 and "set by the index itself" in reserved.text
    moved = await api.call("editor", "POST", "/rag/index", json={"name": "kb", "store": "qdrant"})
    assert moved.status_code == 409 and "does not move between stores" in moved.json()["detail"]


async def test_only_an_owner_may_give_a_store_or_embedder_config(api: Api) -> None:
    body = {"name": "configured", "store_config": {"path": "/etc"}}
    refused = await api.call("editor", "POST", "/rag/index", json=body)
    assert refused.status_code == 403 and "store_config need the owner role" in refused.json()["detail"]
    refused = await api.call(
        "editor", "POST", "/rag/index", json={"name": "c2", "embedder_config": {"model_path": "/"}}
    )
    assert refused.status_code == 403 and "embedder_config" in refused.json()["detail"]
    assert (await api.call("viewer", "GET", "/rag/indexes")).json()["items"] == [], "nothing was made"


async def test_roles_are_enforced(api: Api) -> None:
    body = {"name": "roles", "documents": [{"key": "a", "text": CATS}]}
    assert (await api.call("anonymous", "POST", "/rag/index", json=body)).status_code == 401
    assert (await api.call("viewer", "POST", "/rag/index", json=body)).status_code == 403
    assert (await api.call("viewer", "POST", "/rag/switch/evaluate", json={})).status_code == 403
    assert (await api.call("outsider", "POST", "/rag/query", json={"index": "roles", "query": "x"})).status_code == 404
    assert (await api.call("editor", "POST", "/rag/index", json=body)).status_code == 200
    assert (await api.call("viewer", "DELETE", "/rag/indexes/roles")).status_code == 403
    assert (await api.call("viewer", "POST", "/rag/query", json={"index": "roles", "query": "cats"})).status_code == 200
    assert (await api.call("owner", "DELETE", "/rag/indexes/roles")).status_code == 204


async def test_one_workspace_never_sees_another_workspaces_chunks(api: Api) -> None:
    secret = {"name": "kb", "documents": [{"key": "acme-secret", "text": RATES}]}
    assert (await api.call("editor", "POST", "/rag/index", json=secret)).status_code == 200
    globex = {"Authorization": f"Bearer {api.tokens['outsider']}", "X-Workspace": api.other_workspace}
    assert (
        await api.http.post("/rag/query", json={"index": "kb", "query": "interest rates"}, headers=globex)
    ).status_code == 404
    own = {"name": "kb", "documents": [{"key": "globex-note", "text": CATS}]}
    assert (await api.http.post("/rag/index", json=own, headers=globex)).status_code == 200
    hits = (
        await api.http.post(
            "/rag/query", json={"index": "kb", "query": "interest rates inflation", "top_k": 10}, headers=globex
        )
    ).json()["hits"]
    assert [h["document_key"] for h in hits] == ["globex-note"]
    assert [i["name"] for i in (await api.http.get("/rag/indexes", headers=globex)).json()["items"]] == ["kb"]
    logs = (await api.http.get("/rag/switch/logs", headers=globex)).json()["items"]
    assert len(logs) == 1, "only globex's own decision"
    acme_hits = (
        await api.call("viewer", "POST", "/rag/query", json={"index": "kb", "query": "cats purr", "top_k": 10})
    ).json()["hits"]
    assert [h["document_key"] for h in acme_hits] == ["acme-secret"]
