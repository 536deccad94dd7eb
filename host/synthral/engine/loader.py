"""Reading workflows from JSON and YAML files, and writing the stored JSON form.

YAML is read with a safe loader that follows YAML 1.2's core schema where YAML 1.1 surprises
people: only ``true``/``false`` are booleans (``yes``, ``no``, ``on`` and ``off`` stay
strings) and dates and times stay strings. A key given twice is an error in both formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from synthral.engine.model import Workflow
from synthral.engine.validate import ValidationIssue, field_of, invalid
from synthral.errors import WorkflowInvalid

__all__ = ["dump_workflow", "load_workflow", "parse_workflow"]

SUFFIXES: Final = (".json", ".yaml", ".yml")

_BOOL: Final = "tag:yaml.org,2002:bool"
_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
_YAML12_BOOL: Final = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 booleans, dates left as strings and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading an object", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
                )
            seen.add(key)
        return dict(super().construct_mapping(node, deep=deep))


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in {_BOOL, _TIMESTAMP}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, _YAML12_BOOL, list("tTfF"))


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _read(path: Path) -> object:
    if path.suffix.lower() not in SUFFIXES:
        raise WorkflowInvalid(
            f"{path}: a workflow file must end in .json, .yaml or .yml, not '{path.suffix}'; rename it",
            details={"source": str(path)},
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowInvalid(f"{path}: cannot read the file ({exc})", details={"source": str(path)}) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise _syntax_error(path, exc.lineno, exc.colno, exc.msg) from None
        except ValueError as exc:  # a duplicate key
            raise _syntax_error(path, None, None, str(exc)) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 -- _Loader is a yaml.SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise _syntax_error(path, line, column, problem) from None
    except yaml.YAMLError as exc:
        raise _syntax_error(path, None, None, str(exc)) from None


def _syntax_error(path: Path, line: int | None, column: int | None, problem: str) -> WorkflowInvalid:
    where = f"{path}, line {line}, column {column}" if line is not None else str(path)
    return WorkflowInvalid(
        f"{where}: {problem}; fix the file's syntax",
        details={"source": str(path), "line": line, "column": column, "problem": problem},
    )


def load_workflow(path: Path) -> Workflow:
    """Read a workflow from a ``.json``, ``.yaml`` or ``.yml`` file.

    This checks the workflow's shape only; :func:`synthral.engine.validate.ensure_valid`
    checks it against the installed capabilities.

    Raises:
        WorkflowInvalid: The file cannot be read, has a syntax error (named with its line
            and column) or does not describe a workflow (every problem listed).
    """
    return parse_workflow(_read(path), source=str(path))


def _issue(data: object, error: Mapping[str, Any]) -> ValidationIssue:
    """An issue for one pydantic error, naming the node when the error is inside one."""
    loc: list[int | str] = list(error["loc"])
    items = data.get(loc[0]) if isinstance(data, dict) and loc and isinstance(loc[0], str) else None
    if loc[:1] == ["triggers"] and len(loc) > 2 and isinstance(items, list) and isinstance(loc[1], int):
        entry = items[loc[1]] if loc[1] < len(items) else None
        if isinstance(entry, dict) and loc[2] == entry.get("type"):
            del loc[2]  # the union member's tag, which the trigger's own 'type' already says
    message = error["msg"].removeprefix("Value error, ")
    code = {"missing": "missing_field", "extra_forbidden": "unknown_field"}.get(error["type"], "invalid_field")
    if loc[:1] == ["nodes"] and len(loc) > 1 and isinstance(loc[1], int) and isinstance(items, list):
        entry = items[loc[1]] if loc[1] < len(items) else None
        node_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(node_id, str):
            field = field_of(tuple(loc[2:])) or "(node)"
            return ValidationIssue.at(node_id, tuple(loc[2:]), code, f"node '{node_id}': field '{field}': {message}")
    field = field_of(tuple(loc)) or "(workflow)"
    return ValidationIssue.at(None, tuple(loc), code, f"field '{field}': {message}")


def parse_workflow(data: object, *, source: str) -> Workflow:
    """Turn parsed JSON or YAML into a :class:`~synthral.engine.model.Workflow`.

    Args:
        data: What ``json.loads`` or ``yaml.safe_load`` returned.
        source: Where it came from (a path, 'request body'), for messages.

    Raises:
        WorkflowInvalid: ``data`` is not a workflow; every problem is listed, those inside
            a node named by the node's id, and ``details['issues']`` holds them as dicts.
    """
    if not isinstance(data, dict):
        kind = "nothing" if data is None else f"a {type(data).__name__}"
        raise WorkflowInvalid(
            f"{source}: a workflow is an object with 'name' and 'nodes', but this holds {kind}; "
            "see docs/workflow-format.md",
            details={"source": source},
        )
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(data, error) for error in exc.errors(include_url=False, include_input=False)]
        error = invalid(source, issues)
        error.details["source"] = source
        raise error from None


def dump_workflow(workflow: Workflow) -> str:
    """The stored form: the workflow as indented JSON, every field written out."""
    return workflow.model_dump_json(indent=2) + "\n"
