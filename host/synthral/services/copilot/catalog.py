"""What the copilot knows of the node catalog and of validation: the same facts the builder shows.

Searching reads the plugin host's catalog (every enabled plugin version's capabilities,
the built-in ones included) and the engine's own node types; checking a draft runs the
workflow model and the validator that saving runs, so a draft the copilot calls valid is
one the server will save.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from synthral.engine.engine_nodes import engine_spec
from synthral.engine.model import ENGINE_NODE_TYPES, Workflow
from synthral.engine.validate import SpecCatalog, validate_workflow
from synthral.plugins.host import PluginHost
from synthral.plugins.layout import sort_versions
from synthral.services.copilot.data import Data
from synthral_sdk import CapabilityKind, CapabilitySpec

__all__ = ["Catalog", "Check", "problem_pointer"]

_WORD = re.compile(r"[a-z0-9]+")
_NODE_KINDS = frozenset({CapabilityKind.NODE.value, CapabilityKind.CONNECTOR.value, "engine"})


def _fields(schema: Any) -> Data:
    """A schema's properties in one line each: type, required, description, enum, default."""
    if not isinstance(schema, dict):
        return {}
    required = set(schema.get("required") or [])
    out: Data = {}
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return {}
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        kind = prop.get("type") or ("one of" if "anyOf" in prop or "oneOf" in prop else "any")
        text = f"{kind}{' (required)' if name in required else ''}"
        if isinstance(prop.get("enum"), list):
            text += f", one of {prop['enum']}"
        if "default" in prop:
            text += f", default {prop['default']!r}"
        description = prop.get("description") or prop.get("title")
        if isinstance(description, str) and description:
            text += f": {description[:160]}"
        out[str(name)] = text
    return out


def problem_pointer(field: str) -> str:
    """The JSON Pointer of a validator field name: ``config.rules[0].name`` → ``/config/rules/0/name``."""
    parts = re.findall(r"[^.\[\]]+", field)
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


@dataclass
class Check:
    """A draft checked as saving checks it."""

    workflow: Workflow | None
    problems: list[Data]

    @property
    def valid(self) -> bool:
        """Whether it would save."""
        return self.workflow is not None and not self.problems


class Catalog:
    """The node types a workspace can use, and the validator, over one plugin host."""

    def __init__(self, plugins: PluginHost) -> None:
        self.plugins = plugins

    def _newest(self) -> dict[str, tuple[str, str, CapabilitySpec]]:
        """``{type: (plugin, version, spec)}`` of each type's newest enabled version, engine types included."""
        by_type: dict[str, dict[str, tuple[str, CapabilitySpec]]] = {}
        for entry in self.plugins.catalog():
            by_type.setdefault(entry.ref, {})[entry.version] = (entry.plugin, entry.spec)
        newest: dict[str, tuple[str, str, CapabilitySpec]] = {}
        for node_type, versions in by_type.items():
            version = sort_versions(list(versions))[-1]
            plugin, spec = versions[version]
            newest[node_type] = (plugin, version, spec)
        for node_type in ENGINE_NODE_TYPES:
            if node_type not in newest:
                newest[node_type] = ("engine", "", engine_spec(node_type))
        return newest

    def search(self, query: str = "", *, limit: int = 12) -> list[Data]:
        """Node types matching ``query`` (every word somewhere in type, title, description), best first."""
        words = _WORD.findall(query.lower())
        scored: list[tuple[int, str, Data]] = []
        for node_type, (plugin, version, spec) in self._newest().items():
            kind = "engine" if plugin == "engine" else spec.kind.value
            if kind not in _NODE_KINDS:
                continue  # LLM providers, OCR engines, runtimes... are not workflow nodes themselves
            haystack = f"{node_type} {spec.title} {spec.description} {spec.extra.get('category', '')}".lower()
            hits = sum(1 for word in words if word in haystack)
            if words and hits == 0:
                continue
            score = hits * 10 + sum(3 for word in words if word in node_type.lower())
            scored.append((score, node_type, self._summary(node_type, plugin, version, spec, kind)))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [item for _, _, item in scored[:limit]]

    @staticmethod
    def _summary(node_type: str, plugin: str, version: str, spec: CapabilitySpec, kind: str) -> Data:
        operations = {
            name: {"input": _fields(operation.input_schema), "output": _fields(operation.output_schema)}
            for name, operation in spec.operations.items()
        }
        return {
            "type": node_type,
            "plugin": plugin,
            "version": version,
            "kind": kind,
            "title": spec.title or spec.name,
            "description": spec.description[:400],
            "config": _fields(spec.config_schema),
            "operations": operations,
            "operation_required": len(spec.operations) > 1,
            "secrets": list(spec.secrets),
        }

    def describe(self, node_type: str) -> Data | None:
        """One type's whole schemas (config, each operation's input and output), or None."""
        found = self._newest().get(node_type)
        if found is None:
            return None
        plugin, version, spec = found
        return {
            "type": node_type,
            "plugin": plugin,
            "version": version,
            "title": spec.title or spec.name,
            "description": spec.description,
            "config_schema": spec.config_schema,
            "operations": {
                name: {
                    "description": operation.description,
                    "input_schema": operation.input_schema,
                    "output_schema": operation.output_schema,
                }
                for name, operation in spec.operations.items()
            },
            "secrets": list(spec.secrets),
        }

    def known(self, node_type: str) -> bool:
        """Whether the type exists (installed, enabled, or an engine type)."""
        return node_type in self._newest()

    def check(self, definition: object) -> Check:
        """Check a workflow definition as saving does: its shape, then its meaning.

        Every problem names the node (``node_id``), where (``field`` and ``pointer``), what
        kind (``code``) and the problem with its fix (``message``).
        """
        try:
            workflow = Workflow.model_validate(definition)
        except ValidationError as exc:
            problems: list[Data] = []
            for error in exc.errors(include_url=False, include_input=False):
                loc = [str(part) for part in error["loc"]]
                node_id = _node_of(definition, error["loc"])
                field = ".".join(loc) or "(workflow)"
                message = error["msg"].removeprefix("Value error, ")
                problems.append(
                    {
                        "node_id": node_id,
                        "field": field,
                        "pointer": "/" + "/".join(loc) if loc else "",
                        "code": "shape_invalid",
                        "message": f"{field}: {message}",
                    }
                )
            return Check(None, problems)
        catalog = SpecCatalog.from_entries(self.plugins.catalog())
        issues = validate_workflow(workflow, catalog, known_types=catalog.types)
        return Check(
            workflow,
            [
                {
                    "node_id": issue.node,
                    "field": issue.field,
                    "pointer": problem_pointer(issue.field),
                    "code": issue.code,
                    "message": issue.message,
                }
                for issue in issues
            ],
        )

    def field_schema(self, definition: Data, node_id: str | None, field: str) -> Data | None:
        """The schema of the field a problem names (``config.timeout`` of node ``fetch``), if known."""
        if node_id is None:
            return None
        nodes = definition.get("nodes")
        node = (
            next((n for n in nodes if isinstance(n, dict) and n.get("id") == node_id), None)
            if isinstance(nodes, list)
            else None
        )
        if node is None or not isinstance(node.get("type"), str):
            return None
        described = self.describe(str(node["type"]))
        if described is None:
            return None
        parts = re.findall(r"[^.\[\]]+", field)
        if not parts:
            return None
        if parts[0] == "config":
            schema: Any = described["config_schema"]
        elif parts[0] == "input":
            operations = described["operations"]
            assert isinstance(operations, dict)
            name = node.get("operation") or next(iter(operations), None)
            operation = operations.get(name) if isinstance(name, str) else None
            schema = operation.get("input_schema") if isinstance(operation, dict) else None
        else:
            return None
        for part in parts[1:]:
            if not isinstance(schema, dict):
                return None
            properties = schema.get("properties")
            if isinstance(properties, dict) and part in properties:
                schema = properties[part]
            elif part.isdigit() and isinstance(schema.get("items"), dict):
                schema = schema["items"]
            else:
                return None
        return schema if isinstance(schema, dict) else None


def _node_of(definition: object, loc: tuple[int | str, ...]) -> str | None:
    """The id of the node a shape error is in (``nodes.2.type`` → the third node's id)."""
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int) and isinstance(definition, dict):
        nodes = definition.get("nodes")
        if isinstance(nodes, list) and 0 <= loc[1] < len(nodes) and isinstance(nodes[loc[1]], dict):
            node_id = nodes[loc[1]].get("id")
            return node_id if isinstance(node_id, str) else None
    return None
