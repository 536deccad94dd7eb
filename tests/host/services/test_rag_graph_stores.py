"""The router and the RAG service with the graph stores installed: LightRAG and Graphiti as real plugins.

The stores need an LLM: the platform's retrieval LLM (an OpenAI-compatible endpoint, here
the repository's stand-in scripted to answer LightRAG's prompts) makes them usable, and
without it the router passes them over saying so.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from synthral.plugins.host import PluginHost
from synthral.security.egress import EgressSettings
from synthral.services.rag import RAGService
from synthral.services.rag_models import DocumentIn, IndexSpec, LLMEndpoint, RagSettings
from synthral.services.rag_router import MB, RoutingFacts
from synthral.store.db import Database
from tests.support.settings import GRANT_ALL, REPO, make_settings

PLUGINS = ("embed-model2vec", "vector-lancedb", "vector-lightrag", "memory-graphiti")
DIMS = 256  # embed-model2vec's


def _lightrag_standin() -> Any:
    """The stand-in and LightRAG responder the plugin's own tests use."""
    path = REPO / "plugins" / "vector-lightrag" / "tests" / "standin.py"
    spec = importlib.util.spec_from_file_location("lightrag_standin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lightrag_standin"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    home = tmp_path_factory.mktemp("rag-graph-home")

    async def install() -> None:
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        for name in PLUGINS:
            await plugin_host.install(str(REPO / "plugins" / name), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home


@pytest.fixture(scope="module")
def llm() -> Iterator[Any]:
    standin = _lightrag_standin()
    with standin.OpenAIStandIn(dims=DIMS, responder=standin.lightrag) as server:
        yield server


async def _service(
    database: Database, home: Path, wheelhouse: Path, llm: LLMEndpoint | None
) -> AsyncIterator[RAGService]:
    settings = make_settings(home, wheelhouse, call_timeout=300.0)
    plugins = PluginHost(settings, egress=EgressSettings(local=True))  # the stand-in LLM is on this machine
    try:
        yield RAGService(database, plugins, settings=RagSettings(llm=llm))
    finally:
        await plugins.close()


@pytest.fixture
async def without_llm(database: Database, graph_home: Path, wheelhouse: Path) -> AsyncIterator[RAGService]:
    async for service in _service(database, graph_home, wheelhouse, None):
        yield service


@pytest.fixture
async def with_llm(database: Database, graph_home: Path, wheelhouse: Path, llm: Any) -> AsyncIterator[RAGService]:
    async for service in _service(database, graph_home, wheelhouse, LLMEndpoint(llm.base_url, "standin")):
        yield service


async def test_without_the_platforms_llm_the_graph_stores_are_passed_over_saying_why(without_llm: RAGService) -> None:
    decision = await without_llm.evaluate(None, RoutingFacts(file_size_bytes=MB - 1))
    assert (decision.store, decision.rule) == ("vector-lancedb/lancedb", "default")
    assert "lightrag is installed but not configured (it needs ['llm_base_url'])" in decision.reason
    memory = await without_llm.evaluate(None, RoutingFacts(structured_memory=True))
    assert memory.store == "vector-lancedb/lancedb"
    assert "graphiti is installed but not configured" in memory.reason


@pytest.mark.parametrize(
    ("facts", "store", "rule", "said"),
    [
        (RoutingFacts(file_size_bytes=MB - 1), "vector-lightrag/lightrag", "file_size", "the file is under 1 MB"),
        (RoutingFacts(file_size_bytes=MB), "vector-lancedb/lancedb", "default", "no rule applied"),
        (
            RoutingFacts(structured_memory=True, file_size_bytes=10),
            "memory-graphiti/graphiti",
            "structured_memory",
            "structured memory was asked for",
        ),
        (RoutingFacts(ocr_input=True), "vector-lightrag/lightrag", "ocr", "pgvector is not installed"),
    ],
)
async def test_with_the_platforms_llm_the_prd_rules_choose_the_graph_stores(
    with_llm: RAGService, facts: RoutingFacts, store: str, rule: str, said: str
) -> None:
    decision = await with_llm.evaluate(None, facts)
    assert (decision.store, decision.rule) == (store, rule)
    assert said in decision.reason


async def test_a_small_file_is_indexed_in_lightrag_and_found_through_its_graph(with_llm: RAGService, llm: Any) -> None:
    """The router sends a small file to LightRAG, which extracts with the platform's LLM; the answer cites it."""
    info, decision = await with_llm.ensure_index(
        None, IndexSpec.model_validate({"name": "small"}), facts=RoutingFacts(file_size_bytes=200)
    )
    assert decision is not None and decision.store == "vector-lightrag/lightrag"
    assert info.store == "vector-lightrag/lightrag"
    documents = [
        DocumentIn(key="acme.md", text="Alice founded Acme in Paris. Acme makes kettles.", source="file"),
        DocumentIn(key="bikes.md", text="Bob repairs bicycles in a small shop downtown.", source="file"),
    ]
    await with_llm.ingest(None, "small", documents)
    prompts = [str(body["messages"][-1]["content"]) for path, body in llm.requests if path == "/v1/chat/completions"]
    assert any("Alice founded Acme in Paris." in p for p in prompts), "extraction went to the platform's LLM"
    found = await with_llm.query(None, "small", "Who founded Acme?", top_k=1)
    assert [hit.document_key for hit in found.hits] == ["acme.md"]
    await with_llm.delete_documents(None, "small", ["acme.md"])
    after = await with_llm.query(None, "small", "Who founded Acme?", top_k=2)
    assert "acme.md" not in [hit.document_key for hit in after.hits]
