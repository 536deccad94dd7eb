"""Working on workflow definitions as plain JSON: patches, a tidy layout, what changed, triggers.

An edit the copilot proposes is an RFC 6902 JSON Patch against the open workflow's
definition; the result is checked like any draft and shown as a diff before anyone
accepts it.
"""

from __future__ import annotations

import copy
from collections import defaultdict, deque
from typing import Any

from synthral.errors import InputInvalid
from synthral.services.copilot.data import Data

__all__ = ["apply_patch", "changes", "layout", "with_trigger"]

_COLUMN = 280
_ROW = 130


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise InputInvalid(f"JSON Pointer {pointer!r} must start with '/' (e.g. '/nodes/0/config/timeout')")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _parent(document: Any, pointer: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise InputInvalid("a patch operation cannot replace the whole workflow; point at a field inside it")
    target = document
    for token in tokens[:-1]:
        target = _child(target, token, pointer)
    return target, tokens[-1]


def _child(target: Any, token: str, pointer: str) -> Any:
    if isinstance(target, dict):
        if token not in target:
            raise InputInvalid(f"path {pointer!r}: there is no {token!r} in the workflow at that place")
        return target[token]
    if isinstance(target, list):
        index = _index(target, token, pointer, allow_end=False)
        return target[index]
    raise InputInvalid(f"path {pointer!r}: {token!r} is below a value that holds no fields")


def _index(target: list[Any], token: str, pointer: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:  # noqa: S105 -- RFC 6901's "past the end", not a password
        return len(target)
    if not token.isdigit():
        raise InputInvalid(f"path {pointer!r}: {token!r} is not a list index")
    index = int(token)
    if index > len(target) or (index == len(target) and not allow_end):
        raise InputInvalid(f"path {pointer!r}: index {index} is past the end of a list of {len(target)}")
    return index


def _get(document: Any, pointer: str) -> Any:
    target = document
    for token in _tokens(pointer):
        target = _child(target, token, pointer)
    return target


def _add(document: Any, pointer: str, value: Any) -> None:
    parent, token = _parent(document, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, pointer, allow_end=True), value)
    else:
        raise InputInvalid(f"path {pointer!r}: cannot add below a plain value")


def _remove(document: Any, pointer: str) -> Any:
    parent, token = _parent(document, pointer)
    if isinstance(parent, dict):
        if token not in parent:
            raise InputInvalid(f"path {pointer!r}: there is nothing to remove there")
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(parent, token, pointer, allow_end=False))
    raise InputInvalid(f"path {pointer!r}: cannot remove below a plain value")


def apply_patch(document: Data, operations: list[Any]) -> Data:
    """``document`` with the RFC 6902 ``operations`` applied (the original is left alone).

    Raises:
        InputInvalid: An operation is malformed, points nowhere, or a ``test`` fails; the
            message names the operation by its index.
    """
    result = copy.deepcopy(document)
    for number, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            raise InputInvalid(f"patch operation {number} must be an object with 'op' and 'path'")
        op, path = operation["op"], operation.get("path")
        if not isinstance(path, str):
            raise InputInvalid(f"patch operation {number} ({op}) needs a 'path' (a JSON Pointer)")
        try:
            if op in ("add", "replace", "test") and "value" not in operation:
                raise InputInvalid(f"'{op}' needs a 'value'")
            if op == "add":
                _add(result, path, copy.deepcopy(operation["value"]))
            elif op == "remove":
                _remove(result, path)
            elif op == "replace":
                _remove(result, path)
                _add(result, path, copy.deepcopy(operation["value"]))
            elif op in ("move", "copy"):
                source = operation.get("from")
                if not isinstance(source, str):
                    raise InputInvalid(f"'{op}' needs 'from' (a JSON Pointer)")
                value = _remove(result, source) if op == "move" else copy.deepcopy(_get(result, source))
                _add(result, path, value)
            elif op == "test":
                if _get(result, path) != operation["value"]:
                    raise InputInvalid(f"the value at {path!r} is not the one the patch expected")
            else:
                raise InputInvalid(f"unknown op {op!r}; use add, remove, replace, move, copy or test")
        except InputInvalid as exc:
            raise InputInvalid(
                f"patch operation {number} ({op} {path}): {exc.message}", details={"operation": number}
            ) from None
    if not isinstance(result, dict):
        raise InputInvalid("the patched workflow is not an object")
    return result


def layout(definition: Data) -> Data:
    """Give nodes without a position one: columns by depth from the first nodes, rows in order."""
    nodes = [node for node in definition.get("nodes") or [] if isinstance(node, dict)]
    if all(isinstance(node.get("position"), dict) for node in nodes):
        return definition
    ids = [str(node.get("id")) for node in nodes]
    successors: dict[str, list[str]] = defaultdict(list)
    incoming: dict[str, int] = dict.fromkeys(ids, 0)
    for edge in definition.get("edges") or []:
        if isinstance(edge, dict) and edge.get("source") in incoming and edge.get("target") in incoming:
            successors[str(edge["source"])].append(str(edge["target"]))
            incoming[str(edge["target"])] += 1
    depth = dict.fromkeys(ids, 0)
    queue = deque(node_id for node_id in ids if incoming[node_id] == 0)
    seen: set[str] = set()
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        for target in successors[current]:
            if target not in seen:
                depth[target] = max(depth[target], depth[current] + 1)
                queue.append(target)
    rows: dict[int, int] = defaultdict(int)
    result = copy.deepcopy(definition)
    for node in result.get("nodes") or []:
        if isinstance(node, dict) and not isinstance(node.get("position"), dict):
            column = depth.get(str(node.get("id")), 0)
            node["position"] = {"x": column * _COLUMN, "y": rows[column] * _ROW}
            rows[column] += 1
    return result


def _by_id(definition: Data) -> dict[str, Data]:
    return {str(node.get("id")): node for node in definition.get("nodes") or [] if isinstance(node, dict)}


def _edges(definition: Data) -> set[tuple[str, str, str]]:
    return {
        (str(e.get("source")), str(e.get("target")), str(e.get("handle") or ""))
        for e in definition.get("edges") or []
        if isinstance(e, dict)
    }


def changes(before: Data | None, after: Data) -> Data:
    """What an edit changes: nodes added, removed and changed (by field), edges and triggers."""
    old = _by_id(before or {})
    new = _by_id(after)
    changed: dict[str, list[str]] = {}
    for node_id in sorted(set(old) & set(new)):
        fields = sorted(
            key
            for key in set(old[node_id]) | set(new[node_id])
            if key != "position" and old[node_id].get(key) != new[node_id].get(key)
        )
        if fields:
            changed[node_id] = fields
    old_edges, new_edges = _edges(before or {}), _edges(after)
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": changed,
        "edges_added": [list(edge) for edge in sorted(new_edges - old_edges)],
        "edges_removed": [list(edge) for edge in sorted(old_edges - new_edges)],
        "triggers_changed": (before or {}).get("triggers") != after.get("triggers"),
    }


def with_trigger(definition: Data, trigger: Data) -> Data:
    """The definition with ``trigger`` added; a cron trigger with the same expression is replaced.

    A workflow defined without triggers has the manual one by default; it is kept, so the
    workflow can still be run by hand.
    """
    result = copy.deepcopy(definition)
    triggers = [t for t in result.get("triggers") or [{"type": "manual"}] if isinstance(t, dict)]
    if trigger.get("type") == "webhook":
        triggers = [t for t in triggers if t.get("type") != "webhook"]
    elif trigger.get("type") == "cron":
        triggers = [t for t in triggers if not (t.get("type") == "cron" and t.get("cron") == trigger.get("cron"))]
    triggers.append(trigger)
    result["triggers"] = triggers
    return result
