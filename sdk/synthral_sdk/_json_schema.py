"""A small JSON Schema checker for declared connector parameters.

It covers what API descriptions use for request parameters (types, required, properties,
additionalProperties, items, enum, const, bounds, lengths, patterns, anyOf/oneOf/allOf) and
reports every problem with its JSON path. Keywords it does not know are ignored, as the
JSON Schema specification asks of unknown keywords, so a richer imported schema still loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from synthral_sdk._json import JSONValue

__all__ = ["schema_problems"]

_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: object, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def _where(path: str) -> str:
    return path or "(root)"


def schema_problems(schema: Mapping[str, JSONValue], value: object, path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, each naming its JSON path; empty when it fits."""
    problems: list[str] = []
    expected = schema.get("type")
    listed = expected if isinstance(expected, list) else []
    names = [expected] if isinstance(expected, str) else [t for t in listed if isinstance(t, str)]
    if schema.get("nullable") is True:
        names.append("null")
    if names and not any(_is_type(value, name) for name in names):
        return [f"'{_where(path)}' must be {' or '.join(names)}, not {type(value).__name__}"]
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        shown = ", ".join(repr(item) for item in enum[:10])
        problems.append(f"'{_where(path)}' must be one of {shown}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"'{_where(path)}' must be {schema['const']!r}")
    if isinstance(value, str):
        problems.extend(_string_problems(schema, value, path))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        problems.extend(_number_problems(schema, value, path))
    elif isinstance(value, dict):
        problems.extend(_object_problems(schema, value, path))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                problems.extend(schema_problems(items, item, f"{path}[{index}]"))
        low, high = schema.get("minItems"), schema.get("maxItems")
        if isinstance(low, int) and len(value) < low:
            problems.append(f"'{_where(path)}' needs at least {low} items")
        if isinstance(high, int) and len(value) > high:
            problems.append(f"'{_where(path)}' takes at most {high} items")
    problems.extend(_combined_problems(schema, value, path))
    return problems


def _string_problems(schema: Mapping[str, JSONValue], value: str, path: str) -> list[str]:
    problems = []
    low, high, pattern = schema.get("minLength"), schema.get("maxLength"), schema.get("pattern")
    if isinstance(low, int) and len(value) < low:
        problems.append(f"'{_where(path)}' needs at least {low} characters")
    if isinstance(high, int) and len(value) > high:
        problems.append(f"'{_where(path)}' takes at most {high} characters")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True  # a pattern Python's re cannot read (ECMA-only syntax) is not enforced
        if not matched:
            problems.append(f"'{_where(path)}' must match the pattern {pattern!r}")
    return problems


def _number_problems(schema: Mapping[str, JSONValue], value: float, path: str) -> list[str]:
    problems = []
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float) and value < low:
        problems.append(f"'{_where(path)}' must be at least {low}")
    if isinstance(high, int | float) and value > high:
        problems.append(f"'{_where(path)}' must be at most {high}")
    return problems


def _object_problems(schema: Mapping[str, JSONValue], value: dict[str, JSONValue], path: str) -> list[str]:
    problems = []
    properties = schema.get("properties")
    props = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if isinstance(name, str) and name not in value:
            problems.append(f"'{path + '.' if path else ''}{name}' is required")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        sub = props.get(key)
        if isinstance(sub, dict):
            problems.extend(schema_problems(sub, item, child))
        elif extra is False:
            known = ", ".join(sorted(props)) or "none"
            problems.append(f"'{child}' is not a known field (known: {known})")
        elif isinstance(extra, dict):
            problems.extend(schema_problems(extra, item, child))
    return problems


def _combined_problems(schema: Mapping[str, JSONValue], value: object, path: str) -> list[str]:
    problems = []
    all_of = schema.get("allOf")
    for part in all_of if isinstance(all_of, list) else []:
        if isinstance(part, dict):
            problems.extend(schema_problems(part, value, path))
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        fits = isinstance(options, list) and any(
            isinstance(o, dict) and not schema_problems(o, value, path) for o in options
        )
        if isinstance(options, list) and options and not fits:
            problems.append(f"'{_where(path)}' matches none of the allowed shapes ({keyword})")
    return problems
