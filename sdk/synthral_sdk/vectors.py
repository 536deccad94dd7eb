"""Vectors on the wire: a JSON array of numbers, or packed float32.

A packed vector is the string ``"f32:"`` followed by the base64 of its values as
little-endian IEEE 754 single-precision floats. It is about a quarter the size of the same
vector written as decimal numbers, and it is read without parsing any decimal text: a
batch of a thousand 256-dimensional vectors crosses a process boundary in a few
milliseconds instead of tens.

Fields typed :data:`Vector` (an embedder's ``vectors``, a store's ``vector``) accept both
forms and hold a ``list[float]``, so store authors read ``record.vector`` as before. An
embedder's answer is written packed when the request asks for it
(``vector_encoding='f32'``); the host asks when it passes the vectors straight on to a
store, and only of plugins whose catalog says they understand it.

.. versionadded:: 1.11
"""

from __future__ import annotations

import base64
import binascii
import math
import sys
from array import array
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, PlainSerializer, SerializationInfo, StringConstraints

__all__ = [
    "PACKED_PATTERN",
    "PACKED_PREFIX",
    "Vector",
    "accepts_packed",
    "pack",
    "packed_dimensions",
    "unpack",
]

PACKED_PREFIX: Final = "f32:"
PACKED_PATTERN: Final = r"^f32:[A-Za-z0-9+/]*={0,2}$"
_SWAP: Final = sys.byteorder == "big"
_FORM: Final = (
    "a packed vector is 'f32:' followed by the base64 of its values as little-endian float32 "
    "(synthral_sdk.vectors.pack writes one); or send the vector as a JSON array of numbers"
)


def pack(values: Iterable[float]) -> str:
    """The packed form of ``values`` (rounded to single precision)."""
    floats = array("f", values)
    if _SWAP:
        floats.byteswap()
    return PACKED_PREFIX + base64.b64encode(floats.tobytes()).decode("ascii")


def unpack(text: str) -> list[float]:
    """The values of a packed vector.

    Raises:
        ValueError: ``text`` is not a packed vector, or holds a NaN or an infinity.
    """
    if not text.startswith(PACKED_PREFIX):
        raise ValueError(f"the string {text[:20]!r} is not a vector: {_FORM}")
    try:
        raw = base64.b64decode(text[len(PACKED_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the packed vector is not valid base64: {_FORM}") from None
    if len(raw) % 4:
        raise ValueError(f"the packed vector holds {len(raw)} bytes, not a whole number of float32: {_FORM}")
    floats = array("f")
    floats.frombytes(raw)
    if _SWAP:
        floats.byteswap()
    values = floats.tolist()
    if not all(map(math.isfinite, values)):
        raise ValueError("the packed vector holds a NaN or an infinity; every value must be a finite number")
    return values


def packed_dimensions(text: str) -> int:
    """How many values a packed vector holds, read from its length (nothing is decoded)."""
    body = len(text) - len(PACKED_PREFIX)
    padding = len(text) - len(text.rstrip("="))
    return (body * 3 // 4 - padding) // 4


def accepts_packed(schema: Mapping[str, Any] | list[Any] | object) -> bool:
    """Whether a JSON Schema (a catalog's input schema) takes packed vectors somewhere in it."""
    if isinstance(schema, Mapping):
        if schema.get("pattern") == PACKED_PATTERN:
            return True
        return any(accepts_packed(value) for value in schema.values())
    if isinstance(schema, list):
        return any(accepts_packed(item) for item in schema)
    return False


def _read(value: object) -> object:
    return unpack(value) if isinstance(value, str) else value


def _write(value: list[float], info: SerializationInfo) -> list[float] | str:
    context = info.context
    if isinstance(context, Mapping) and context.get("vector_encoding") == "f32":
        return pack(value)
    return value


Vector = Annotated[
    list[float],
    BeforeValidator(
        _read, json_schema_input_type=list[float] | Annotated[str, StringConstraints(pattern=PACKED_PATTERN)]
    ),
    PlainSerializer(_write, return_type=list[float] | str),
]
"""A vector: a JSON array of numbers or a packed string on the wire, a ``list[float]`` in Python."""
