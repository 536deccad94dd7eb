"""JSON type aliases, kept apart so that light modules need not import pydantic."""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["JSONObject", "JSONValue"]

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
"""Any value JSON can carry."""

JSONObject: TypeAlias = "dict[str, JSONValue]"
"""A JSON object."""
