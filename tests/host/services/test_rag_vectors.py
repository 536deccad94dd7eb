"""Vectors from the embedder to the store: packed float32 between plugins that read it, arrays otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from synthral.errors import OutputInvalid
from synthral.plugins.host import PluginHost
from synthral.services.rag import RAGService
from synthral.services.rag_models import DocumentIn, IndexSpec
from synthral.services.rag_vectors import embedder_packs, for_store, read_answer
from synthral.store.db import Database
from synthral_sdk.vectors import pack, unpack
from tests.conftest import make_settings
from tests.support.rag import rag_home

__all__ = ["rag_home"]

MODEL2VEC = "embed-model2vec/model2vec"
LANCEDB = "vector-lancedb/lancedb"
OLD_EMBEDDER = "vectors-v1/letters"
OLD_STORE = "vectors-v1/memory"
DOCS = [
    DocumentIn(key="cats", text="Cats sleep most of the day and purr when they are content."),
    DocumentIn(key="rates", text="The central bank raised interest rates to fight inflation."),
    DocumentIn(key="lava", text="A volcano erupts when magma rises and pours out as lava."),
]


@pytest.fixture
async def plugins(rag_home: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    host = PluginHost(make_settings(rag_home, wheelhouse))
    yield host
    await host.close()


@pytest.fixture
def rag(database: Database, plugins: PluginHost) -> RAGService:
    return RAGService(database, plugins)


def test_catalogs_say_which_plugins_read_packed_vectors(plugins: PluginHost) -> None:
    assert embedder_packs(plugins, MODEL2VEC)
    assert not embedder_packs(plugins, OLD_EMBEDDER)
    packed = [pack([0.5, -1.0])]
    assert for_store(plugins, LANCEDB, packed) is packed  # handed on untouched
    assert for_store(plugins, OLD_STORE, packed) == [[0.5, -1.0]]  # unpacked for a 1.10 store
    arrays: list[object] = [[0.5, -1.0]]
    assert for_store(plugins, OLD_STORE, arrays) is arrays  # type: ignore[arg-type]


async def test_model2vec_answers_packed_when_asked_and_the_values_match_its_arrays(plugins: PluginHost) -> None:
    texts = ["cats purr", "interest rates"]
    plain = await plugins.invoke(MODEL2VEC, {"texts": texts}, operation="embed")
    packed = await plugins.invoke(MODEL2VEC, {"texts": texts, "vector_encoding": "f32"}, operation="embed")
    read = read_answer(packed, MODEL2VEC, len(texts))
    assert read.dimensions == plain["dimensions"] == 256 and read.model == plain["model"]
    for vector, array in zip(read.vectors, plain["vectors"], strict=True):  # type: ignore[arg-type]
        assert isinstance(vector, str)
        assert unpack(vector) == pytest.approx(array, abs=1e-6)


@pytest.mark.parametrize(
    ("embedder", "store"),
    [(MODEL2VEC, LANCEDB), (MODEL2VEC, OLD_STORE), (OLD_EMBEDDER, LANCEDB), (OLD_EMBEDDER, OLD_STORE)],
    ids=["both-pack", "older-store", "older-embedder", "both-older"],
)
async def test_every_pairing_of_new_and_older_plugins_ingests_and_finds(
    rag: RAGService, tmp_path: Path, embedder: str, store: str
) -> None:
    config = {"path": str(tmp_path / "lance")} if store == LANCEDB else {}
    spec = IndexSpec.model_validate({"name": "pairs", "store": store, "embedder": embedder, "store_config": config})
    await rag.ensure_index(None, spec)
    outcomes = await rag.ingest(None, "pairs", DOCS)
    assert [o.status for o in outcomes] == ["added"] * 3
    assert await rag.store_count(None, "pairs") == 3
    hits = (await rag.query(None, "pairs", "Cats sleep most of the day and purr", top_k=1)).hits
    assert [h.document_key for h in hits] == ["cats"]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"model": "m", "dimensions": 2, "vectors": [pack([1.0, 0.0])]}, "gave 1 vectors for 2 texts"),
        ({"model": "m", "dimensions": 2, "vectors": [[1.0, 0.0], [0.0, 1.0]]}, "sent something else"),
        ({"model": "m", "dimensions": 3, "vectors": [pack([1.0, 0.0])] * 2}, "have 3 dimensions but sent one of 2"),
        ({"dimensions": 2, "vectors": []}, "without model, dimensions and vectors"),
    ],
)
def test_a_packed_answer_of_the_wrong_shape_names_the_embedder(answer: dict[str, object], problem: str) -> None:
    with pytest.raises(OutputInvalid) as caught:
        read_answer(answer, "some/embedder", 2)  # type: ignore[arg-type]
    assert problem in caught.value.message and "some/embedder" in caught.value.message
