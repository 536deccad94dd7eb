"""The retrieval nodes in a real workflow run: chunk, embed, upsert, query, rerank and answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from synthral.builtins import rag as rag_nodes
from synthral.config import EngineSettings
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.rag import RAGService
from synthral.services.rag_models import LLMEndpoint, RagSettings, SearchHit
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from synthral_sdk.testing import call
from tests.conftest import make_settings
from tests.host.engine.conftest import Harness
from tests.support.openai_standin import OpenAIStandIn
from tests.support.rag import rag_home

__all__ = ["rag_home"]

GUIDE = """# Volcanoes

Magma rises through the crust and erupts as lava.

## Safety

Stay outside the exclusion zone when the alert level is red.
"""


@pytest.fixture
def llm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as standin:
        yield standin


@pytest.fixture
async def harness(database: Database, rag_home: Path, wheelhouse: Path, llm: OpenAIStandIn) -> AsyncIterator[Harness]:
    plugins = PluginHost(make_settings(rag_home, wheelhouse))
    service = RAGService(database, plugins, settings=RagSettings(llm=LLMEndpoint(llm.base_url, "standin-chat")))
    rag_nodes.register(plugins, service)
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    worker = Worker(engine, concurrency=4, poll_interval=0.1)
    task = asyncio.create_task(worker.run())
    yield Harness(WorkflowService(database, plugins, engine), engine, worker, database)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await plugins.close()


PIPELINE: dict[str, Any] = {
    "name": "rag-pipeline",
    "nodes": [
        {
            "id": "ingest",
            "type": "rag/upsert",
            "input": {"key": "guide.md", "text": "{{ trigger.guide }}", "metadata": {"kind": "guide"}},
            "config": {"index": "wiki", "chunking": {"strategy": "markdown", "size": 64, "overlap": 0}},
        },
        {
            "id": "chunk",
            "type": "rag/chunk",
            "input": {"text": "{{ trigger.note }}"},
            "config": {"size": 32, "overlap": 4},
        },
        {
            "id": "embed",
            "type": "rag/embed",
            "input": {"texts": "{{ nodes.chunk.output.chunks }}"},
            "config": {"index": "wiki"},
        },
        {
            "id": "store",
            "type": "rag/upsert",
            "input": {
                "key": "note.txt",
                "chunks": "{{ nodes.chunk.output.chunks }}",
                "vectors": "{{ nodes.embed.output.vectors }}",
                "model": "{{ nodes.embed.output.model }}",
            },
            "config": {"index": "wiki"},
        },
        {
            "id": "vector",
            "type": "rag/query",
            "input": {"index": "wiki", "query": "{{ trigger.question }}", "top_k": 3},
        },
        {
            "id": "hybrid",
            "type": "rag/query",
            "input": {"index": "wiki", "query": "{{ trigger.question }}", "top_k": 3, "mode": "hybrid"},
        },
        {
            "id": "fused",
            "type": "rag/rerank",
            "input": {"lists": ["{{ nodes.vector.output.hits }}", "{{ nodes.hybrid.output.hits }}"]},
            "config": {"top_n": 2},
        },
        {"id": "answer", "type": "rag/answer", "input": {"index": "wiki", "question": "{{ trigger.question }}"}},
    ],
    "edges": [
        {"source": "ingest", "target": "chunk"},
        {"source": "chunk", "target": "embed"},
        {"source": "embed", "target": "store"},
        {"source": "store", "target": "vector"},
        {"source": "vector", "target": "hybrid"},
        {"source": "hybrid", "target": "fused"},
        {"source": "fused", "target": "answer"},
    ],
}


async def test_a_workflow_ingests_queries_fuses_and_answers_with_citations(
    harness: Harness, llm: OpenAIStandIn
) -> None:
    trigger = {
        "guide": GUIDE,
        "note": "The red alert level means everyone must leave the exclusion zone at once.",
        "question": "What does the red alert level mean for the exclusion zone?",
    }
    execution = await harness.run(PIPELINE, trigger)
    view = await harness.wait(execution)
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    outputs = {step["node_id"]: step["output"] for step in view.steps}
    assert outputs["ingest"]["outcome"]["status"] == "added" and outputs["ingest"]["store"] == "vector-lancedb/lancedb"
    assert outputs["embed"]["model"] == "model2vec/all-MiniLM-L6-v2-256"
    assert outputs["store"]["outcome"] == {"key": "note.txt", "status": "added", "chunks": outputs["chunk"]["count"]}
    top = outputs["vector"]["hits"][0]
    assert "exclusion zone" in top["text"]
    assert len(outputs["fused"]["hits"]) == 2
    answer = outputs["answer"]
    assert answer["citations"] and answer["citations"][0]["number"] == 1
    assert answer["citations"][0]["chunk_id"] == answer["sources"][0]["chunk_id"]
    assert answer["answer"].endswith("[1]")
    path, sent = llm.requests[-1]
    assert path == "/v1/chat/completions" and "[1] (" in sent["messages"][-1]["content"]


async def test_the_answer_can_come_from_an_installed_llm_provider(harness: Harness, llm: OpenAIStandIn) -> None:
    ingest = PIPELINE["nodes"][0]
    answer = {
        "id": "answer",
        "type": "rag/answer",
        "input": {"index": "wiki", "question": "{{ trigger.question }}"},
        "config": {"provider": "llm-echo/echo", "model": "small"},
    }
    workflow = {
        "name": "answer-by-provider",
        "nodes": [ingest, answer],
        "edges": [{"source": "ingest", "target": "answer"}],
    }
    view = await harness.wait(await harness.run(workflow, {"guide": GUIDE, "question": "What does red mean?"}))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    out = {step["node_id"]: step["output"] for step in view.steps}["answer"]
    assert out["model"] == "echo-small" and out["citations"][0]["number"] == 1
    assert not [path for path, _ in llm.requests if path == "/v1/chat/completions"], "the endpoint was not asked"


async def test_a_workflow_cannot_reach_an_index_of_another_workspace(harness: Harness) -> None:
    from synthral.engine.model import Workflow

    await harness.run(PIPELINE, {"guide": GUIDE, "note": "n", "question": "q"})
    probe = {
        "name": "probe",
        "nodes": [{"id": "q", "type": "rag/query", "input": {"index": "wiki", "query": "lava"}}],
        "edges": [],
    }
    identity_ws = await _workspace(harness.database)
    saved = await harness.service.save(Workflow.model_validate(probe), workspace_id=identity_ws)
    execution = await harness.service.start(saved.workflow_id, {})
    view = await harness.wait(execution)
    assert view.status == ExecutionStatus.FAILED
    assert "no RAG index 'wiki' in this workspace" in str(view.execution)


async def _workspace(database: Database) -> str:
    from synthral.security.crypto import KeyRing, generate_key
    from synthral.services.identity import IdentityService

    identity = IdentityService(database, signing_key=b"k" * 32, keyring=KeyRing.single(generate_key()))
    owner = await identity.create_user("o@example.com", "correct horse battery staple")
    return (await identity.create_workspace("elsewhere", "Elsewhere", owner_id=owner.id)).id


def test_reciprocal_rank_fusion_rewards_hits_found_by_several_lists() -> None:
    def hit(cid: str) -> dict[str, Any]:
        return {"chunk_id": cid, "document_key": "d", "chunk": 0, "score": 0.0, "text": cid, "metadata": {}}

    lists = [[hit("a"), hit("b"), hit("c")], [hit("c"), hit("b"), hit("d")]]
    fused = call(rag_nodes._Rerank(), {"lists": lists}, config={"k": 60, "top_n": 3})["hits"]
    # c (ranks 3 and 1) edges out b (2 and 2); both beat a, found by one list only
    assert [h["chunk_id"] for h in fused] == ["c", "b", "a"]
    assert fused[0]["score"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[1]["score"] == pytest.approx(2 / 62)
    assert rag_nodes.rrf([[SearchHit.model_validate(hit("x"))]], top_n=5)[0].score == pytest.approx(1 / 61)


def test_the_chunk_node_splits_with_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(400))
    out = call(rag_nodes.Chunk(), {"text": text}, config={"strategy": "characters", "size": 100, "overlap": 20})
    assert out["count"] == len(out["chunks"]) > 10
    assert all(len(c) <= 100 for c in out["chunks"])
