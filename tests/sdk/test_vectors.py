"""Packed float32 vectors: written by embedders when asked, read by every store model."""

from __future__ import annotations

import math

import orjson
import pytest
from pydantic import ValidationError

from synthral_sdk import Context, Embedder, EmbedRequest, EmbedResult, NoConfig, QueryRequest, UpsertRequest
from synthral_sdk.testing import call
from synthral_sdk.vectors import accepts_packed, pack, packed_dimensions, unpack


class Fixed(Embedder[NoConfig]):
    name = "fixed"

    def embed(self, request: EmbedRequest, config: NoConfig, context: Context) -> EmbedResult:
        del config, context
        return EmbedResult(model="m", dimensions=3, vectors=[[0.5, -1.25, 1e-3] for _ in request.texts])


def test_a_vector_survives_packing_at_single_precision() -> None:
    values = [0.1, -2.5, 3.0e-8, 1234.5678, 0.0]
    again = unpack(pack(values))
    assert again == pytest.approx(values, rel=1e-6)
    assert [packed_dimensions(pack([1.0] * n)) for n in range(9)] == list(range(9))
    embedding = [((i * 7919) % 1000 - 500) / 4321.0 for i in range(256)]  # values as a model writes them
    assert len(pack(embedding)) < len(orjson.dumps(embedding)) / 3


def test_an_embedder_answers_arrays_by_default_and_packed_when_asked() -> None:
    plain = call(Fixed(), {"texts": ["a", "b"]})
    assert plain["vectors"] == [[0.5, -1.25, 1e-3]] * 2
    packed = call(Fixed(), {"texts": ["a", "b"], "vector_encoding": "f32"})
    assert all(isinstance(v, str) and v.startswith("f32:") for v in packed["vectors"])  # type: ignore[union-attr]
    assert [unpack(v) for v in packed["vectors"]] == [pytest.approx([0.5, -1.25, 1e-3])] * 2  # type: ignore[arg-type,union-attr]
    assert packed["model"] == "m" and packed["dimensions"] == 3


def test_store_requests_take_either_form_and_hold_lists() -> None:
    request = UpsertRequest.model_validate(
        {"collection": "c", "records": [{"id": "a", "vector": pack([1.0, 2.0])}, {"id": "b", "vector": [3, 4]}]}
    )
    assert [r.vector for r in request.records] == [[1.0, 2.0], [3.0, 4.0]]
    query = QueryRequest.model_validate({"collection": "c", "vector": pack([0.25])})
    assert query.vector == [0.25]
    assert UpsertRequest.model_validate(request.model_dump()).records[0].vector == [1.0, 2.0]  # dumps as arrays


@pytest.mark.parametrize(
    ("vector", "problem"),
    [
        ("f32:%%%%", "not valid base64"),
        ("f32:AAA=", "not a whole number of float32"),
        ("[1, 2]", "is not a vector"),
        (pack([math.nan, 1.0]), "a NaN or an infinity"),
        (pack([math.inf]), "a NaN or an infinity"),
        ("f32:", "at least 1 item"),
    ],
)
def test_a_bad_packed_vector_is_refused_saying_what_a_packed_vector_is(vector: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        UpsertRequest.model_validate({"collection": "c", "records": [{"id": "a", "vector": vector}]})
    assert problem in str(caught.value) and "records.0.vector" in str(caught.value)


def test_catalog_schemas_say_who_reads_packed_vectors() -> None:
    assert accepts_packed(UpsertRequest.model_json_schema())
    assert accepts_packed(QueryRequest.model_json_schema())
    assert not accepts_packed({"properties": {"vector": {"type": "array", "items": {"type": "number"}}}})
    assert "vector_encoding" in EmbedRequest.model_json_schema()["properties"]
