"""Vectors between an embedder and a store, passed on as the embedder wrote them.

Ingest embeds a batch in the embedder's process and writes it in the store's. When both
plugins understand packed float32 vectors (their catalog says so: SDK 1.11 and later), the
host asks the embedder for them and hands the strings to the store untouched: nothing is
parsed from decimal text or rewritten as it, in this process or theirs. With an older
plugin on either side the vectors travel as JSON arrays, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from synthral.errors import OutputInvalid
from synthral.plugins.host import PluginHost
from synthral_sdk import EmbedResult
from synthral_sdk.types import JSONObject, JSONValue
from synthral_sdk.vectors import PACKED_PREFIX, accepts_packed, packed_dimensions, unpack

__all__ = ["Embedded", "embedder_packs", "for_store", "read_answer"]


@dataclass(frozen=True)
class Embedded:
    """An embedder's answer for a list of texts; each vector an array of numbers or a packed string."""

    model: str
    dimensions: int
    vectors: list[JSONValue]

    def result(self) -> EmbedResult:
        """The answer as an embed node outputs it (arrays: call :meth:`RAGService.embed` without ``packed``)."""
        return EmbedResult.model_construct(
            model=self.model, dimensions=self.dimensions, vectors=cast(list[list[float]], self.vectors)
        )

    @classmethod
    def of(cls, result: EmbedResult) -> Embedded:
        """The vectors of an answer already read (a workflow's embed node)."""
        return cls(result.model, result.dimensions, cast(list[JSONValue], result.vectors))


def embedder_packs(plugins: PluginHost, ref: str) -> bool:
    """Whether the embedder writes packed vectors when asked (its ``embed`` takes ``vector_encoding``)."""
    operation = plugins.resolve(ref).spec().operations.get("embed")
    properties = operation.input_schema.get("properties") if operation is not None else None
    return isinstance(properties, dict) and "vector_encoding" in properties


def read_answer(out: JSONObject, ref: str, count: int) -> Embedded:
    """Check a packed answer's shape without decoding it: one vector per text, each of its size.

    Raises:
        PluginError: The embedder answered something else (a bug in the embedder).
    """
    model, dimensions, vectors = out.get("model"), out.get("dimensions"), out.get("vectors")
    if not isinstance(model, str) or not isinstance(dimensions, int) or not isinstance(vectors, list):
        raise OutputInvalid(f"{ref} answered without model, dimensions and vectors; its author must fix embed()")
    if len(vectors) != count:
        raise OutputInvalid(f"{ref} gave {len(vectors)} vectors for {count} texts; its author must fix embed()")
    for vector in vectors:
        if not isinstance(vector, str) or not vector.startswith(PACKED_PREFIX):
            raise OutputInvalid(f"{ref} was asked for packed vectors and sent something else; its author must fix it")
        if packed_dimensions(vector) != dimensions:
            raise OutputInvalid(
                f"{ref} says its vectors have {dimensions} dimensions but sent one of {packed_dimensions(vector)}"
            )
    return Embedded(model, dimensions, list(vectors))


def for_store(plugins: PluginHost, ref: str, vectors: list[JSONValue]) -> list[JSONValue]:
    """``vectors`` as the store ``ref`` reads them: packed strings are unpacked for an older store."""
    if not any(isinstance(vector, str) for vector in vectors):
        return vectors
    operation = plugins.resolve(ref).spec().operations.get("upsert")
    if operation is not None and accepts_packed(operation.input_schema):
        return vectors
    return [cast(JSONValue, unpack(vector)) if isinstance(vector, str) else vector for vector in vectors]
