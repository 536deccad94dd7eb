"""The bundled MiniLM through PyTorch on the CPU, and model folders of one's own (tiny inputs)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from synthral_embed_sentence_transformers import SentenceTransformersEmbedder
from synthral_embed_sentence_transformers.embedder import bundled_model

from synthral_sdk.errors import ConfigInvalid
from synthral_sdk.testing import RunnerClient, call


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_the_bundled_minilm_embeds_in_384_dimensions_normalised() -> None:
    out = call(
        SentenceTransformersEmbedder(),
        {"texts": ["a kitten sleeps on the sofa", "the cat naps on the couch", "bond yields rose"]},
    )
    assert out["model"] == "sentence-transformers/all-MiniLM-L6-v2" and out["dimensions"] == 384
    a, b, c = out["vectors"]
    assert abs(math.sqrt(cosine(a, a)) - 1) < 1e-4
    assert cosine(a, b) > 0.5 > cosine(a, c)


def test_query_prefixes_change_the_query_vector_only() -> None:
    config = {"query_prefix": "query: "}
    doc = call(SentenceTransformersEmbedder(), {"texts": ["hello"], "purpose": "document"}, config=config)
    query = call(SentenceTransformersEmbedder(), {"texts": ["hello"], "purpose": "query"}, config=config)
    plain = call(SentenceTransformersEmbedder(), {"texts": ["hello"]})
    assert doc["vectors"] == plain["vectors"] and query["vectors"] != plain["vectors"]


def test_a_model_folder_of_ones_own_is_named_by_its_weights(tmp_path: Path) -> None:
    folder = tmp_path / "my-minilm"
    shutil.copytree(bundled_model(), folder)
    out = call(SentenceTransformersEmbedder(), {"texts": ["hello"]}, config={"model_path": str(folder)})
    assert out["model"].startswith("sentence-transformers/my-minilm@")


def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        call(SentenceTransformersEmbedder(), {"texts": ["x"]}, config={"model_path": str(tmp_path)})
    assert "model_path" in caught.value.message


def test_the_model_embeds_through_a_runner_process() -> None:
    with RunnerClient("synthral-embed-sentence-transformers") as client:
        out = client.invoke("sentence-transformers", {"texts": ["hello"]}, operation="embed", timeout=600)
    assert out["dimensions"] == 384
