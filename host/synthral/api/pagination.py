"""Cursor pagination: an opaque cursor names where the next page starts."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field

from synthral.errors import InputInvalid

__all__ = ["Cursor", "Limit", "Page", "decode_cursor", "encode_cursor", "text_cursor"]

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page.")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page.")]


class Page(BaseModel, Generic[T]):
    """One page of a listing."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page; null at the end.")


def encode_cursor(value: Any) -> str:
    """An opaque cursor for ``value`` (the last item's sort key)."""
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """The sort key a cursor stands for (None for the first page).

    Raises:
        InputInvalid: The cursor was not made by this server.
    """
    if not cursor:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InputInvalid("the cursor is not one this server made; pass next_cursor from the previous page") from exc


def text_cursor(cursor: str | None) -> str | None:
    """A cursor that stands for one string (a name or an id).

    Raises:
        InputInvalid: The cursor was not made by this server.
    """
    value = decode_cursor(cursor)
    if value is not None and not isinstance(value, str):
        raise InputInvalid("the cursor is not one this server made; pass next_cursor from the previous page")
    return value
