"""LanceDB specifics: hybrid search, the IVF index past the threshold, filter keys."""

from __future__ import annotations

import random
from pathlib import Path

import lancedb
import pytest
from synthral_vector_lancedb import LanceStore

from synthral_sdk.errors import ConfigInvalid, InputInvalid
from synthral_sdk.testing import call


def unit(rng: random.Random, dims: int = 8) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(dims)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def test_hybrid_search_finds_a_record_by_its_words(tmp_path: Path) -> None:
    rng = random.Random(3)
    texts = ["the volcano erupted with lava", "interest rates rose again", "cats purr when content"]
    records = [{"id": f"r{i}", "vector": unit(rng), "text": t} for i, t in enumerate(texts)]
    config = {"path": str(tmp_path)}
    call(LanceStore(), {"collection": "h", "records": records}, config=config, operation="upsert")
    far = unit(rng)  # a vector that points nowhere in particular: the words must do the work
    found = call(
        LanceStore(),
        {"collection": "h", "vector": far, "top_k": 1, "text": "purring cats", "mode": "hybrid"},
        config=config,
        operation="query",
    )
    assert found["matches"][0]["id"] == "r2"


def test_hybrid_without_text_is_refused_naming_the_field(tmp_path: Path) -> None:
    call(
        LanceStore(),
        {"collection": "h", "records": [{"id": "a", "vector": [1.0, 0.0]}]},
        config={"path": str(tmp_path)},
        operation="upsert",
    )
    with pytest.raises(InputInvalid) as caught:
        call(
            LanceStore(),
            {"collection": "h", "vector": [1.0, 0.0], "mode": "hybrid"},
            config={"path": str(tmp_path)},
            operation="query",
        )
    assert "'text'" in caught.value.message


def test_a_table_past_the_threshold_gets_an_ivf_index_and_ids_a_btree(tmp_path: Path) -> None:
    rng = random.Random(4)
    config = {"path": str(tmp_path), "index_threshold": 300}
    records = [{"id": f"r{i}", "vector": unit(rng, 16), "text": f"t{i}"} for i in range(400)]
    call(LanceStore(), {"collection": "big", "records": records}, config=config, operation="upsert")
    table = lancedb.connect(str(tmp_path)).open_table("big")
    kinds = {tuple(idx.columns): idx.index_type for idx in table.list_indices()}
    assert kinds[("vector",)] == "IvfFlat" and kinds[("id",)] == "BTree" and kinds[("text",)] == "FTS"
    found = call(
        LanceStore(),
        {"collection": "big", "vector": records[123]["vector"], "top_k": 1},
        config=config,
        operation="query",
    )
    assert found["matches"][0]["id"] == "r123"


def test_a_filter_key_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    call(
        LanceStore(),
        {"collection": "f", "records": [{"id": "a", "vector": [1.0, 0.0]}]},
        config={"path": str(tmp_path)},
        operation="upsert",
    )
    with pytest.raises(InputInvalid) as caught:
        call(
            LanceStore(),
            {"collection": "f", "vector": [1.0, 0.0], "filter": {"a.b') OR 1=1 --": 1}},
            config={"path": str(tmp_path)},
            operation="query",
        )
    assert "letters, digits" in caught.value.message


def test_a_table_written_in_many_pieces_is_compacted_and_finds_the_same(tmp_path: Path) -> None:
    rng = random.Random(5)
    config = {"path": str(tmp_path), "compact_fragments": 4}
    records = [{"id": f"r{i}", "vector": unit(rng, 16), "text": f"t{i}"} for i in range(60)]
    for start in range(0, 60, 5):  # twelve writes: twelve data files without compaction
        call(
            LanceStore(),
            {"collection": "pieces", "records": records[start : start + 5]},
            config=config,
            operation="upsert",
        )
    table = lancedb.connect(str(tmp_path)).open_table("pieces")
    assert table.stats()["fragment_stats"]["num_fragments"] <= 4
    assert table.count_rows() == 60
    for probe in (0, 33, 59):
        found = call(
            LanceStore(),
            {"collection": "pieces", "vector": records[probe]["vector"], "top_k": 1},
            config=config,
            operation="query",
        )
        assert found["matches"][0]["id"] == f"r{probe}"
    # Replacing records (delete, then add) after compaction keeps one copy of each.
    call(LanceStore(), {"collection": "pieces", "records": records[:5]}, config=config, operation="upsert")
    assert lancedb.connect(str(tmp_path)).open_table("pieces").count_rows() == 60


def test_a_compaction_threshold_below_two_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="compact_fragments"):
        call(
            LanceStore(),
            {"collection": "c", "records": [{"id": "a", "vector": [1.0, 0.0]}]},
            config={"path": str(tmp_path), "compact_fragments": 1},
            operation="upsert",
        )
