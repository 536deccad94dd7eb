"""The graph side of the store: extraction through the stand-in LLM, graph retrieval, clear errors."""

from __future__ import annotations

import tempfile
import uuid
from typing import Any, cast

import pytest
from standin import OpenAIStandIn, graphiti
from synthral_memory_graphiti import GraphitiConfig, store

from synthral_sdk import Context
from synthral_sdk.blobs import BlobStore
from synthral_sdk.errors import ConfigInvalid, InputInvalid, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import call, load_plugin
from synthral_sdk.types import JSONObject, JSONValue

DIMS = 64


def _context() -> Context:
    return Context(blobs=BlobStore(tempfile.mkdtemp()), network=NetworkPolicy.local())


def _unit(i: int, sign: float = 1.0) -> list[float]:
    vector = [0.0] * DIMS
    vector[i] = sign
    return vector


@pytest.fixture(scope="module")
def llm() -> Any:
    with OpenAIStandIn(dims=DIMS, responder=graphiti) as server:
        yield server


@pytest.fixture
def config(llm: Any) -> JSONObject:
    return {"path": tempfile.mkdtemp(prefix="graphiti-test-"), "llm_base_url": llm.base_url, "llm_model": "standin"}


def op(operation: str, payload: JSONObject, config: JSONObject) -> JSONObject:
    store = load_plugin("synthral-memory-graphiti")["graphiti"].capability
    return call(store, payload, config=config, operation=operation)


def _prompts(llm: Any) -> list[str]:
    return [str(body["messages"][-1]["content"]) for path, body in llm.requests if path == "/v1/chat/completions"]


RECORDS: list[JSONObject] = [
    {
        "id": "acme",
        "vector": cast(JSONValue, _unit(1, -1.0)),
        "text": "Alice founded Acme in Paris.",
        "metadata": {"k": "a"},
    },
    {
        "id": "bikes",
        "vector": cast(JSONValue, _unit(1)),
        "text": "Bob repairs bicycles downtown.",
        "metadata": {"k": "b"},
    },
    *[
        {
            "id": f"filler{i}",
            "vector": cast(JSONValue, _unit(i)),
            "text": f"plain words {i} without names",
            "metadata": {},
        }
        for i in range(2, 8)
    ],
]


def test_upsert_asks_the_llm_for_entities_and_a_text_query_finds_a_record_through_the_graph(
    llm: Any, config: JSONObject
) -> None:
    """'Acme' is in no vector near the query, but Graphiti's facts lead from the word to the record behind them."""
    name = f"g_{uuid.uuid4().hex[:8]}"
    assert op("upsert", {"collection": name, "records": cast(JSONValue, RECORDS)}, config)["upserted"] == 8
    prompts = _prompts(llm)
    assert any("Alice founded Acme in Paris." in p for p in prompts), "the record's text went to the extraction prompt"
    embedded = [t for path, body in llm.requests if path == "/v1/embeddings" for t in body["input"]]
    assert any("Acme" in t for t in embedded), "the extracted entities were embedded by the embeddings endpoint"

    probe = _unit(1)  # nearest to 'bikes', farthest from 'acme'
    by_vector = op("query", {"collection": name, "vector": cast(JSONValue, probe), "top_k": 3}, config)
    assert "acme" not in [m["id"] for m in cast(list[JSONObject], by_vector["matches"])]
    by_graph = op(
        "query", {"collection": name, "vector": cast(JSONValue, probe), "text": "Who founded Acme?", "top_k": 3}, config
    )
    ids = [m["id"] for m in cast(list[JSONObject], by_graph["matches"])]
    assert "acme" in ids, f"the graph should bring the record naming Acme, got {ids}"
    assert any("Alice is mentioned with Acme" in t for t in embedded), "the extracted fact was embedded"

    filtered = op(
        "query",
        {
            "collection": name,
            "vector": cast(JSONValue, probe),
            "text": "Who founded Acme?",
            "top_k": 3,
            "filter": {"k": "b"},
        },
        config,
    )
    assert [m["id"] for m in cast(list[JSONObject], filtered["matches"])] == ["bikes"]


def test_deleting_a_record_forgets_what_the_graph_took_from_it(config: JSONObject) -> None:
    """After the delete, the graph no longer leads from 'Acme' to the record."""
    name = f"d_{uuid.uuid4().hex[:8]}"
    op("upsert", {"collection": name, "records": cast(JSONValue, RECORDS)}, config)
    assert op("delete", {"collection": name, "ids": ["acme"]}, config)["deleted"] == 1
    result = op(
        "query",
        {"collection": name, "vector": cast(JSONValue, _unit(1)), "text": "Who founded Acme?", "top_k": 8},
        config,
    )
    assert "acme" not in [m["id"] for m in cast(list[JSONObject], result["matches"])]
    assert op("count", {"collection": name}, config)["count"] == 7
    graphs = store._graphs  # noqa: SLF001 -- the test reads the graph itself
    graph = graphs.graph(GraphitiConfig.model_validate(config), _context(), name)
    assert graph is not None
    facts = graphs.run(graph.graphiti.search("Acme", group_ids=[name], num_results=10))
    assert not [f.fact for f in facts if "Acme" in f.fact], "the fact only the deleted record supported is gone"


def test_a_config_without_an_llm_endpoint_is_refused_naming_the_setting(config: JSONObject) -> None:
    """Without 'llm_base_url' nothing is written and the error names the field."""
    bare = {"path": config["path"]}
    with pytest.raises(ConfigInvalid, match="llm_base_url"):
        op("upsert", {"collection": "n", "records": cast(JSONValue, RECORDS[:2])}, bare)
    assert op("count", {"collection": "n"}, config)["count"] == 0


def test_a_record_without_text_is_refused(config: JSONObject) -> None:
    """Graphiti builds its graph from text; a vector alone is refused with the fix."""
    record: JSONObject = {"id": "x", "vector": cast(JSONValue, _unit(0)), "text": ""}
    with pytest.raises(InputInvalid, match="no text"):
        op("upsert", {"collection": "t", "records": [record]}, config)


def test_an_embeddings_endpoint_of_another_size_is_refused_and_nothing_is_kept(config: JSONObject) -> None:
    """Entities embedded at 16 dimensions cannot join a 64-dimension collection: the error names both and the field."""
    with OpenAIStandIn(dims=16, responder=graphiti) as other:
        wrong = {**config, "embed_base_url": other.base_url}
        name = f"e_{uuid.uuid4().hex[:8]}"
        with pytest.raises(ConfigInvalid, match="embed_base_url") as caught:
            op("upsert", {"collection": name, "records": cast(JSONValue, RECORDS[:2])}, wrong)
        assert "64" in caught.value.message and "16" in caught.value.message
        assert op("count", {"collection": name}, wrong)["count"] == 0


def test_an_llm_that_fails_leaves_nothing_half_written(llm: Any, config: JSONObject) -> None:
    """A server error during extraction fails the upsert (retryable) and keeps none of the batch."""
    name = f"f_{uuid.uuid4().hex[:8]}"
    llm.fail_next.extend([500] * 20)
    try:
        with pytest.raises(RetryableError, match="none of this batch was kept"):
            op("upsert", {"collection": name, "records": cast(JSONValue, RECORDS[:2])}, config)
    finally:
        llm.fail_next.clear()
    assert op("count", {"collection": name}, config)["count"] == 0
    assert op("upsert", {"collection": name, "records": cast(JSONValue, RECORDS[:2])}, config)["upserted"] == 2
