"""What the copilot knows of the node catalog and of validation: the same facts the builder shows.

Searching reads the palette (:func:`synthral.services.nodes.palette`: the node registry's
built-in and engine types and every enabled plugin version's capabilities); checking a
draft is :meth:`WorkflowService.check <synthral.services.workflows.WorkflowService.check>`,
what ``POST /workflows/validate`` and saving run, so a draft the copilot calls valid is one
the server will save.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synthral.engine.loader import parse_workflow
from synthral.engine.model import Workflow
from synthral.errors import WorkflowInvalid
from synthral.plugins.host import PluginHost
from synthral.services.copilot.data import Data
from synthral.services.nodes import NodeTypeInfo, palette
from synthral_sdk import CapabilityKind

if TYPE_CHECKING:
    from synthral.services.workflows import WorkflowService

__all__ = ["Catalog", "Check"]

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
    """The node types a workspace can use (the palette), and the validator saving runs.

    Args:
        plugins: The plugin host whose enabled plugin versions offer the non-built-in types.
        workflows: Checks drafts as saving does.
    """

    def __init__(self, plugins: PluginHost, workflows: WorkflowService) -> None:
        self.plugins = plugins
        self.workflows = workflows

    def _newest(self) -> dict[str, NodeTypeInfo]:
        """Each type's palette item (its newest enabled version), built-in and engine types included."""
        return {item.type: item for item in palette(self.plugins)}

    def search(self, query: str = "", *, limit: int = 12) -> list[Data]:
        """Node types matching ``query`` (every word somewhere in type, title, description), best first."""
        words = _WORD.findall(query.lower())
        scored: list[tuple[int, str, Data]] = []
        for node_type, item in self._newest().items():
            if item.kind not in _NODE_KINDS:
                continue  # LLM providers, OCR engines, runtimes... are not workflow nodes themselves
            haystack = f"{node_type} {item.title} {item.description} {item.category}".lower()
            hits = sum(1 for word in words if word in haystack)
            if words and hits == 0:
                continue
            score = hits * 10 + sum(3 for word in words if word in node_type.lower())
            scored.append((score, node_type, self._summary(item)))
        scored.sort(key=lambda entry: (-entry[0], entry[1]))
        return [summary for _, _, summary in scored[:limit]]

    @staticmethod
    def _summary(item: NodeTypeInfo) -> Data:
        operations = {
            name: {"input": _fields(operation.input_schema), "output": _fields(operation.output_schema)}
            for name, operation in item.operations.items()
        }
        return {
            "type": item.type,
            "plugin": item.plugin,
            "version": item.version,
            "kind": item.kind,
            "title": item.title,
            "description": item.description[:400],
            "config": _fields(item.config_schema),
            "operations": operations,
            "operation_required": len(item.operations) > 1,
            "outputs": [handle.id for handle in item.handles.outputs],
            "secrets": list(item.secrets),
        }

    def describe(self, node_type: str) -> Data | None:
        """One type's whole schemas (config, each operation's input and output) and handles, or None."""
        item = self._newest().get(node_type)
        if item is None:
            return None
        return {
            "type": node_type,
            "plugin": item.plugin,
            "version": item.version,
            "title": item.title,
            "description": item.description,
            "config_schema": item.config_schema,
            "operations": {
                name: {
                    "description": operation.description,
                    "input_schema": operation.input_schema,
                    "output_schema": operation.output_schema,
                }
                for name, operation in item.operations.items()
            },
            "handles": item.handles.model_dump(mode="json"),
            "secrets": list(item.secrets),
        }

    def known(self, node_type: str) -> bool:
        """Whether the type exists (installed and enabled, built in, or an engine type)."""
        return node_type in self._newest()

    def check(self, definition: object) -> Check:
        """Check a workflow definition as saving does: its shape, then its meaning.

        Every problem names the node (``node_id``), where (``field`` and ``pointer``, within the
        node when it names one), what kind (``code``) and the problem with its fix (``message``).
        """
        issues = self.workflows.check(definition, source="the draft")
        try:
            workflow: Workflow | None = parse_workflow(definition, source="the draft")
        except WorkflowInvalid:
            workflow = None
        problems: list[Data] = [
            {
                "node_id": issue.node,
                "field": issue.field or "(workflow)",
                "pointer": issue.pointer,
                "code": issue.code,
                "message": issue.message,
            }
            for issue in issues
        ]
        return Check(workflow, problems)

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
