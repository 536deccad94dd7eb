"""The RAG service on real plugins (model2vec embedder, LanceDB store) and both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from synthral.errors import Conflict, EmbedderMismatch, InputInvalid, NotFound
from synthral.plugins.host import PluginHost
from synthral.services.rag import RAGService
from synthral.services.rag_models import DocumentIn, IndexSpec
from synthral.services.rag_router import RoutingFacts
from synthral.store.db import Database
from tests.conftest import make_settings
from tests.support.rag import rag_home

__all__ = ["rag_home"]

CATS = "Cats sleep most of the day. A cat purrs when it is content and hunts mice at night."
RATES = "The central bank raised interest rates by half a point to fight inflation."
VOLCANO = "A volcano erupts when magma rises through the crust and pours out as lava."


@pytest.fixture
async def rag(database: Database, rag_home: Path, wheelhouse: Path, tmp_path: Path) -> AsyncIterator[RAGService]:
    plugins = PluginHost(make_settings(rag_home, wheelhouse))
    service = RAGService(database, plugins)
    yield service
    await plugins.close()


def spec(name: str, **extra: object) -> IndexSpec:
    return IndexSpec.model_validate({"name": name, "store_config": {}, **extra})


async def test_documents_are_chunked_embedded_stored_and_found(rag: RAGService) -> None:
    info, decision = await rag.ensure_index(None, spec("notes"))
    assert decision is not None and decision.store == "vector-lancedb/lancedb" and decision.rule == "default"
    outcomes = await rag.ingest(
        None,
        "notes",
        [
            DocumentIn(key="cats.md", text=CATS, metadata={"topic": "animals"}),
            DocumentIn(key="rates.md", text=RATES, metadata={"topic": "money"}),
            DocumentIn(key="volcano.md", text=VOLCANO, metadata={"topic": "earth"}),
        ],
    )
    assert [o.status for o in outcomes] == ["added", "added", "added"]
    info = await rag.get_index(None, "notes")
    assert (info.document_count, info.chunk_count, info.embedding_model, info.dimensions) == (
        3,
        3,
        "model2vec/all-MiniLM-L6-v2-256",
        256,
    )
    found = await rag.query(None, "notes", "why do kittens purr?", top_k=2)
    assert found.hits[0].document_key == "cats.md"
    assert found.hits[0].metadata["topic"] == "animals"
    filtered = await rag.query(None, "notes", "why do kittens purr?", top_k=3, filter={"topic": "money"})
    assert [h.document_key for h in filtered.hits] == ["rates.md"]
    assert await rag.query_count(None, "notes") == 2


async def test_a_changed_document_replaces_its_chunks_and_an_unchanged_one_does_nothing(rag: RAGService) -> None:
    await rag.ensure_index(None, spec("docs", chunking={"strategy": "characters", "size": 60, "overlap": 0}))
    long_text = " ".join(f"Sentence number {i} about volcanoes and lava." for i in range(12))
    first = (await rag.ingest(None, "docs", [DocumentIn(key="v", text=long_text)]))[0]
    assert first.status == "added" and first.chunks > 3
    assert await rag.store_count(None, "docs") == first.chunks
    again = (await rag.ingest(None, "docs", [DocumentIn(key="v", text=long_text)]))[0]
    assert again.status == "unchanged"
    shorter = (await rag.ingest(None, "docs", [DocumentIn(key="v", text="Cats purr. Only cats now.")]))[0]
    assert shorter.status == "replaced" and shorter.chunks == 1
    assert await rag.store_count(None, "docs") == 1, "the old chunks past the new count are gone"
    hits = (await rag.query(None, "docs", "lava", top_k=10)).hits
    assert [h.text for h in hits] == ["Cats purr. Only cats now."]
    info = await rag.get_index(None, "docs")
    assert (info.document_count, info.chunk_count) == (1, 1)


async def test_deleting_a_document_removes_its_chunks_from_the_store_and_its_row(rag: RAGService) -> None:
    await rag.ensure_index(None, spec("trash"))
    await rag.ingest(None, "trash", [DocumentIn(key="a", text=CATS), DocumentIn(key="b", text=RATES)])
    outcomes = await rag.delete_documents(None, "trash", ["a", "nope"])
    assert [(o.key, o.status) for o in outcomes] == [("a", "deleted"), ("nope", "missing")]
    assert await rag.store_count(None, "trash") == 1
    hits = (await rag.query(None, "trash", "cats purr", top_k=5)).hits
    assert {h.document_key for h in hits} == {"b"}
    info = await rag.get_index(None, "trash")
    assert (info.document_count, info.chunk_count) == (1, 1)
    assert await rag.delete_index(None, "trash") == 1
    with pytest.raises(NotFound):
        await rag.get_index(None, "trash")


async def test_an_index_remembers_its_embedder_and_refuses_another(rag: RAGService) -> None:
    await rag.ensure_index(None, spec("kept"))
    await rag.ingest(None, "kept", [DocumentIn(key="a", text=CATS)])
    with pytest.raises(EmbedderMismatch) as caught:
        await rag.query(None, "kept", "cats", embedder="embed-openai/openai")
    assert "embed-model2vec/model2vec" in caught.value.message
    with pytest.raises(EmbedderMismatch):
        await rag.ensure_index(None, spec("kept", embedder="embed-openai/openai"))
    with pytest.raises(EmbedderMismatch):
        await rag.ensure_index(None, spec("kept", embedder_config={"model_path": "/elsewhere"}))
    with pytest.raises(Conflict):
        await rag.ensure_index(None, spec("kept", store="qdrant"))


async def test_vectors_from_another_model_are_refused(rag: RAGService) -> None:
    from synthral_sdk import EmbedResult

    await rag.ensure_index(None, spec("pure"))
    await rag.ingest(None, "pure", [DocumentIn(key="a", text=CATS)])
    alien = EmbedResult(model="other/model", dimensions=256, vectors=[[0.1] * 256])
    with pytest.raises(EmbedderMismatch) as caught:
        await rag.upsert_chunks(None, "pure", DocumentIn(key="b", text="x"), ["x"], alien)
    assert "model2vec/all-MiniLM-L6-v2-256" in caught.value.message
    with pytest.raises(InputInvalid):
        await rag.upsert_chunks(None, "pure", DocumentIn(key="b", text="x"), ["x", "y"], alien)
    assert await rag.store_count(None, "pure") == 1


async def test_indexes_of_one_workspace_are_not_found_from_another(rag: RAGService, database: Database) -> None:
    from synthral.security.crypto import KeyRing, generate_key
    from synthral.services.identity import IdentityService

    identity = IdentityService(database, signing_key=b"k" * 32, keyring=KeyRing.single(generate_key()))
    owner = await identity.create_user("o@example.com", "correct horse battery staple")
    one = await identity.create_workspace("one", "One", owner_id=owner.id)
    two = await identity.create_workspace("two", "Two", owner_id=owner.id)
    await rag.ensure_index(one.id, spec("shared-name"))
    await rag.ensure_index(two.id, spec("shared-name"))
    await rag.ingest(one.id, "shared-name", [DocumentIn(key="secret", text=RATES)])
    await rag.ingest(two.id, "shared-name", [DocumentIn(key="mine", text=CATS)])
    hits = (await rag.query(two.id, "shared-name", "interest rates inflation", top_k=10)).hits
    assert {h.document_key for h in hits} == {"mine"}
    with pytest.raises(NotFound):
        await rag.ensure_index(None, spec("x")) and await rag.get_index(one.id, "x")
    assert [i.name for i in (await rag.list_indexes(one.id))[0]] == ["shared-name"]
    assert (await rag.list_indexes(None))[0] == [await rag.get_index(None, "x")]


async def test_router_decisions_are_logged_with_their_reasons(rag: RAGService) -> None:
    decision = await rag.evaluate(None, RoutingFacts(requires_metadata=True, file_size_bytes=10))
    assert decision.store == "vector-lancedb/lancedb"
    assert "weaviate is not installed" in decision.reason and "qdrant is not installed" in decision.reason
    await rag.ensure_index(None, spec("routed"))
    logs, last = await rag.switch_logs(None)
    assert [entry.rule for entry in logs][:2] == ["default", "default"] and last is None
    assert logs[0].index_id is not None
    assert (await rag.switch_logs(None, index="routed"))[0][0].decision == "vector-lancedb/lancedb"
    first, after = await rag.switch_logs(None, limit=1)
    second, _ = await rag.switch_logs(None, limit=1, after=after)
    assert after is not None and [first[0].id, second[0].id] == [logs[0].id, logs[1].id]
