"""The RAG router: the PRD's rules over the installed stores, each decision with its reason."""

from __future__ import annotations

import pytest

from synthral.errors import NoVectorStore
from synthral.services.rag_router import GB, MB, Candidate, RoutingFacts, route

ALL = [
    Candidate(f"vector-{name}/{name}", name, usable=True)
    for name in ("lancedb", "pgvector", "qdrant", "chroma", "milvus", "lightrag", "weaviate", "pinecone")
] + [Candidate("memory-graphiti/graphiti", "graphiti", usable=True), Candidate("memory-mem0/mem0", "mem0", True)]


@pytest.mark.parametrize(
    ("facts", "store", "rule"),
    [
        (RoutingFacts(file_size_bytes=MB - 1), "vector-lightrag/lightrag", "file_size"),
        (RoutingFacts(file_size_bytes=MB), "vector-lancedb/lancedb", "default"),
        (RoutingFacts(dataset_size_bytes=GB + 1, file_size_bytes=10), "vector-milvus/milvus", "dataset_size"),
        (RoutingFacts(requires_metadata=True, file_size_bytes=10), "vector-weaviate/weaviate", "metadata"),
        (
            RoutingFacts(structured_memory=True, dataset_size_bytes=2 * GB),
            "memory-graphiti/graphiti",
            "structured_memory",
        ),
        (RoutingFacts(plan="free", file_size_bytes=10), "vector-pgvector/pgvector", "plan"),
        (RoutingFacts(plan="Free"), "vector-pgvector/pgvector", "plan"),
        (RoutingFacts(plan="team"), "vector-lancedb/lancedb", "default"),
        (RoutingFacts(ocr_input=True, file_size_bytes=10), "vector-pgvector/pgvector", "ocr"),
        (RoutingFacts(), "vector-lancedb/lancedb", "default"),
    ],
)
def test_each_rule_picks_its_store_when_everything_is_installed(facts: RoutingFacts, store: str, rule: str) -> None:
    decision = route(facts, ALL)
    assert (decision.store, decision.rule) == (store, rule)
    assert decision.reason


def test_a_rule_falls_to_its_second_store_and_says_why() -> None:
    pool = [c for c in ALL if c.name != "weaviate"]
    decision = route(RoutingFacts(requires_metadata=True), pool)
    assert decision.store == "vector-qdrant/qdrant"
    assert "weaviate is not installed" in decision.reason


def test_a_rule_none_of_whose_stores_is_installed_is_passed_over_with_the_reason() -> None:
    pool = [Candidate("vector-lancedb/lancedb", "lancedb", True), Candidate("vector-chroma/chroma", "chroma", True)]
    decision = route(RoutingFacts(ocr_input=True, file_size_bytes=100), pool)
    assert (decision.store, decision.rule) == ("vector-lancedb/lancedb", "default")
    assert "the text comes from OCR, but pgvector is not installed; lightrag is not installed" in decision.reason
    assert "the file is under 1 MB, but lightrag is not installed" in decision.reason


def test_a_store_that_needs_configuration_is_not_chosen_until_configured() -> None:
    pool = [
        Candidate("vector-weaviate/weaviate", "weaviate", False, "not configured (it needs ['url'])"),
        Candidate("vector-lancedb/lancedb", "lancedb", True),
    ]
    decision = route(RoutingFacts(requires_metadata=True), pool)
    assert decision.store == "vector-lancedb/lancedb"
    assert "weaviate is installed but not configured" in decision.reason


def test_an_override_beats_every_rule() -> None:
    decision = route(RoutingFacts(dataset_size_bytes=5 * GB), ALL, override="chroma")
    assert (decision.store, decision.rule) == ("vector-chroma/chroma", "override")


def test_an_override_naming_a_store_that_is_not_installed_is_refused_with_the_fix() -> None:
    with pytest.raises(NoVectorStore) as caught:
        route(RoutingFacts(), ALL[:1], override="qdrant")
    assert "not installed" in caught.value.message and "vector-qdrant" in caught.value.message


def test_no_store_at_all_is_refused_naming_the_default_plugin() -> None:
    with pytest.raises(NoVectorStore) as caught:
        route(RoutingFacts(), [])
    assert "plugins/vector-lancedb" in caught.value.message


def test_a_store_outside_the_default_list_is_still_used_when_it_is_the_only_one() -> None:
    decision = route(RoutingFacts(), [Candidate("vector-pinecone/pinecone", "pinecone", True)])
    assert decision.store == "vector-pinecone/pinecone"
