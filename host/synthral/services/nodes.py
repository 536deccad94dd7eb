"""The palette: every node type a workspace can use, with its schemas, handles, icon and versions.

Built-in types come from the node registry (:mod:`synthral.engine.registry`), the others
from the catalog of every enabled plugin version. One item per type: its newest version's
catalog entry, and every version that can be pinned.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field, JsonValue

from synthral import __version__
from synthral.engine.model import ENGINE_PLUGIN
from synthral.engine.registry import BUILTIN_TYPES
from synthral.plugins.host import PluginHost
from synthral.plugins.layout import sort_versions
from synthral_sdk import CapabilitySpec

__all__ = ["NodeTypeInfo", "OperationInfo", "palette"]


class OperationInfo(BaseModel):
    """One operation of a node type."""

    description: str = ""
    input_schema: dict[str, JsonValue]
    output_schema: dict[str, JsonValue]


class HandleInfo(BaseModel):
    """An input or output edges attach to."""

    id: str
    label: str = ""


class DynamicOutputsInfo(BaseModel):
    """Outputs read from the node's config (a switch's rules)."""

    from_config: str = Field(description="JSON Pointer to a list in the config, e.g. '/rules'.")
    key: str = Field(description="The field of each entry naming its output.")
    fallback: str | None = Field(default=None, description="The output taken when no entry matches.")
    fallback_from_config: str | None = Field(
        default=None, description="JSON Pointer to the config field that overrides the fallback (null there: none)."
    )


class HandlesInfo(BaseModel):
    """Where a node's edges attach."""

    inputs: list[HandleInfo]
    outputs: list[HandleInfo]
    dynamic_outputs: DynamicOutputsInfo | None = None
    error_output: bool = Field(description="A failure of the node can follow edges whose handle is 'error'.")


class NodeTypeInfo(BaseModel):
    """One node type of the palette."""

    type: str = Field(description="The node type written in workflows, e.g. 'http/request'.")
    plugin: str = Field(description="The plugin; 'core' for the built-in logic nodes, 'engine' for engine nodes.")
    capability: str
    version: str = Field(description="The newest installed, enabled version.")
    versions: list[str] = Field(description="Every enabled version, newest first (what a node may pin).")
    builtin: bool
    kind: str = Field(description="The capability kind (node, connector, ocr_engine…), or 'engine'.")
    category: str
    title: str
    description: str
    icon: str = Field(description="A short icon name, or a data: URL the plugin declares.")
    config_schema: dict[str, JsonValue]
    operations: dict[str, OperationInfo]
    default_operation: str | None = Field(description="Null when a node of this type must set 'operation'.")
    handles: HandlesInfo
    secrets: list[str] = Field(description="Credential slots the capability may be granted.")
    trigger_schema: dict[str, JsonValue] | None = Field(description="For triggers: the JSON Schema of a run's input.")


def _item(
    node_type: str, plugin: str, spec: CapabilitySpec, versions: list[str], *, builtin: bool, engine: bool = False
) -> NodeTypeInfo:
    logo = spec.extra.get("logo")
    icon = spec.icon or (logo if isinstance(logo, str) else "")
    handles: dict[str, Any] = spec.handles.model_dump(mode="json")
    return NodeTypeInfo(
        type=node_type,
        plugin=plugin,
        capability=spec.name,
        version=versions[0],
        versions=versions,
        builtin=builtin,
        kind="engine" if engine or plugin == ENGINE_PLUGIN else spec.kind.value,
        category=spec.category,
        title=spec.title or spec.name,
        description=spec.description,
        icon=icon,
        config_schema=spec.config_schema,
        operations={
            name: OperationInfo(
                description=operation.description,
                input_schema=operation.input_schema,
                output_schema=operation.output_schema,
            )
            for name, operation in spec.operations.items()
        },
        default_operation=next(iter(spec.operations)) if len(spec.operations) == 1 else None,
        handles=HandlesInfo.model_validate(handles),
        secrets=list(spec.secrets),
        trigger_schema=spec.trigger_schema,
    )


def palette(plugins: PluginHost, *, query: str | None = None, kind: str | None = None) -> list[NodeTypeInfo]:
    """Every node type, sorted by type; ``query`` matches type, title, description or category.

    Args:
        plugins: The plugin host whose enabled plugin versions offer the non-built-in types.
        query: Text to look for (case-insensitive); all types when None.
        kind: Only this kind ('node', 'connector', 'trigger', …, or 'engine').
    """
    items = [
        _item(name, record.plugin, record.spec, [__version__], builtin=True, engine=record.engine)
        for name, record in BUILTIN_TYPES.items()
    ]
    by_type: dict[str, dict[str, CapabilitySpec]] = defaultdict(dict)
    owners: dict[str, tuple[str, bool]] = {}
    for entry in plugins.catalog():
        if entry.ref in BUILTIN_TYPES:
            continue  # the registry's record describes it
        by_type[entry.ref][entry.version] = entry.spec
        owners[entry.ref] = (entry.plugin, entry.builtin)
    for node_type, specs in by_type.items():
        versions = sort_versions(list(specs))[::-1]
        plugin, is_builtin = owners[node_type]
        items.append(_item(node_type, plugin, specs[versions[0]], versions, builtin=is_builtin))
    if kind is not None:
        items = [item for item in items if item.kind == kind]
    if query:
        needle = query.casefold()
        items = [
            item
            for item in items
            if any(needle in text.casefold() for text in (item.type, item.title, item.description, item.category))
        ]
    return sorted(items, key=lambda item: item.type)
