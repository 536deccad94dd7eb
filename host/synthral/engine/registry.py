"""The node types the host implements itself: one record each, read by every part that needs one.

Plugins provide every other node type through their capabilities' specs. The host's own
types are the ``core`` logic nodes (SDK capabilities run in process, see
:mod:`synthral.builtins.core`) and the ``engine`` nodes, which need the engine's machinery
(a durable timer, a signal, another workflow, a capability per item, the OCR router of
``ocr/extract``). For each the
record holds its catalog entry (config, input and output schemas, title, description,
category, icon, handles) and how the engine runs it. The validator, the graph compiler,
the palette and the node functions all read these records; no part of the host compares
type names to decide what a node does.

Adding a built-in node type is one record here (plus, for a new behaviour, its node
function in :mod:`synthral.engine.nodes`).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pydantic import BaseModel

from synthral.builtins import core
from synthral.engine.engine_nodes import (
    HumanInputConfig,
    HumanInputOutput,
    MapConfig,
    MapInput,
    MapOutput,
    OpenInput,
    SubworkflowConfig,
    SubworkflowOutput,
    WaitSignalConfig,
    WaitSignalOutput,
)
from synthral.engine.model import CORE_PLUGIN, ENGINE_PLUGIN
from synthral.engine.ocr_node import OCR_NODE_TYPE, OCRExtractConfig, OCRExtractInput, OCRExtractResult
from synthral_sdk import CapabilityKind, CapabilitySpec, Handles, OperationSpec

__all__ = [
    "BUILTIN_TYPES",
    "HUMAN_INPUT",
    "WAIT_SIGNAL",
    "Behaviour",
    "NodeType",
    "builtin",
]

HUMAN_INPUT: Final = f"{ENGINE_PLUGIN}/human_input"
WAIT_SIGNAL: Final = f"{ENGINE_PLUGIN}/wait_signal"


class Behaviour(StrEnum):
    """How the engine runs a node."""

    CALL = "call"
    """Call a capability once per run of the node, as a recorded, retried step."""
    TIMER = "timer"
    """Wait until a moment, durably: the run is suspended and claimed again when it comes."""
    SIGNAL = "signal"
    """Wait durably for a signal sent to the run (a person's answer, a named signal)."""
    SUBWORKFLOW = "subworkflow"
    """Start another workflow and (by default) wait for its run to end."""
    MAP = "map"
    """Call a capability once per item of a list."""
    OCR = "ocr"
    """Route each document to an OCR engine and read it, one recorded step per document and engine."""


@dataclass(frozen=True)
class NodeType:
    """A node type the host implements, and everything the host needs to know about it.

    Attributes:
        type: ``plugin/name`` as workflows write it.
        spec: Its catalog entry: schemas, title, description, category, icon, handles.
        behaviour: How the engine runs it.
        config_model: The model its config is checked with when a workflow is saved (engine
            nodes; core nodes are checked against their spec's schema like a plugin's).
        joins: It waits for every node before it and gets all their data (merge).
        default_input: An empty ``input`` gets the data of the node(s) before it.
    """

    type: str
    spec: CapabilitySpec
    behaviour: Behaviour = Behaviour.CALL
    config_model: builtins.type[BaseModel] | None = None
    joins: bool = False
    default_input: bool = False

    @property
    def plugin(self) -> str:
        """``core``, ``engine`` or ``ocr``."""
        return self.type.partition("/")[0]

    @property
    def engine(self) -> bool:
        """The engine runs it with its own machinery (not a capability of a plugin host)."""
        return self.config_model is not None


def _engine(
    name: str,
    behaviour: Behaviour,
    config: type[BaseModel],
    inputs: type[BaseModel],
    output: type[BaseModel],
    *,
    title: str,
    description: str,
    category: str,
    icon: str,
    plugin: str = ENGINE_PLUGIN,
) -> NodeType:
    spec = CapabilitySpec(
        name=name,
        kind=CapabilityKind.NODE,
        title=title,
        description=description,
        category=category,
        icon=icon,
        config_schema=config.model_json_schema(),
        operations={
            "run": OperationSpec(
                input_schema=inputs.model_json_schema(),
                output_schema=output.model_json_schema(mode="serialization"),
            )
        },
        handles=Handles(error_output=True),
    )
    return NodeType(f"{plugin}/{name}", spec, behaviour, config_model=config)


def _core() -> list[NodeType]:
    records = []
    for capability in core.synthral_nodes():
        spec = capability.spec()
        node_type = f"{CORE_PLUGIN}/{spec.name}"
        behaviour = Behaviour.TIMER if isinstance(capability, core.WaitNode) else Behaviour.CALL
        joins = isinstance(capability, core.MergeNode)
        records.append(NodeType(node_type, spec, behaviour, joins=joins, default_input=True))
    return records


def _records() -> dict[str, NodeType]:
    engine = [
        _engine(
            "map",
            Behaviour.MAP,
            MapConfig,
            MapInput,
            MapOutput,
            title="For each item",
            description="Run a capability once per item and collect the outputs in order.",
            category="Flow",
            icon="repeat",
        ),
        _engine(
            "subworkflow",
            Behaviour.SUBWORKFLOW,
            SubworkflowConfig,
            OpenInput,
            SubworkflowOutput,
            title="Run a workflow",
            description="Start another workflow and, by default, wait for its output.",
            category="Flow",
            icon="workflow",
        ),
        _engine(
            "human_input",
            Behaviour.SIGNAL,
            HumanInputConfig,
            OpenInput,
            HumanInputOutput,
            title="Ask a person",
            description="Pause until a person answers a form.",
            category="Human",
            icon="user-check",
        ),
        _engine(
            "wait_signal",
            Behaviour.SIGNAL,
            WaitSignalConfig,
            OpenInput,
            WaitSignalOutput,
            title="Wait for a signal",
            description="Pause until a named signal arrives.",
            category="Flow",
            icon="bell",
        ),
        _engine(
            OCR_NODE_TYPE.partition("/")[2],
            Behaviour.OCR,
            OCRExtractConfig,
            OCRExtractInput,
            OCRExtractResult,
            title="Read documents (OCR)",
            description="Read documents with the OCR engine the router picks (or the one set), recording why.",
            category="Documents",
            icon="scan-text",
            plugin=OCR_NODE_TYPE.partition("/")[0],
        ),
    ]
    return {record.type: record for record in [*_core(), *engine]}


BUILTIN_TYPES: Final[Mapping[str, NodeType]] = _records()
"""Every node type the host implements, by type."""


def builtin(node_type: str) -> NodeType | None:
    """The record of a host-implemented node type; None for a plugin's type."""
    return BUILTIN_TYPES.get(node_type)
