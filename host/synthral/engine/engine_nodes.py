"""The node types the engine implements itself, their config models, and branching nodes.

Plugins provide every other node type. These four need the engine's own machinery: running
a capability once per item (``engine/map``), starting another workflow
(``engine/subworkflow``) and waiting durably for a person or a signal
(``engine/human_input``, ``engine/wait_signal``). Their configs are checked with the models
below when a workflow is saved; :func:`engine_spec` describes them the way a capability's
catalog entry does, so editors and the validator treat every node type alike.
"""

from __future__ import annotations

from typing import Final

from jsonschema import Draft202012Validator, SchemaError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from synthral.engine.model import ENGINE_NODE_TYPES, NODE_TYPE, Node
from synthral.engine.ocr_node import OCRExtractConfig, OCRExtractInput, OCRExtractResult
from synthral_sdk import CapabilityKind, CapabilitySpec, OperationSpec

__all__ = [
    "BRANCHING_TYPES",
    "ENGINE_NODE_CONFIGS",
    "ENGINE_NODE_IO",
    "HumanInputConfig",
    "HumanInputOutput",
    "MapConfig",
    "MapInput",
    "MapOutput",
    "SubworkflowConfig",
    "SubworkflowOutput",
    "WaitSignalConfig",
    "WaitSignalOutput",
    "branches",
    "engine_spec",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """A node input that takes any fields."""

    model_config = ConfigDict(extra="allow")


# -- engine/map ----------------------------------------------------------------------------


class MapConfig(_Strict):
    """Run one capability once per item and collect the outputs in order."""

    type: str = Field(description="The capability to run per item, 'plugin/capability', e.g. 'http/request'.")
    config: dict[str, JsonValue] = Field(
        default_factory=dict, description="That capability's config, the same for every item (not templated)."
    )
    operation: str | None = Field(default=None, description="The capability's operation, if it has several.")
    input: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="The input of each call, rendered per item; templates also read 'item' and 'index'.",
    )
    concurrency: int = Field(default=4, ge=1, le=64, description="How many items run at the same time.")

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if value in ENGINE_NODE_TYPES:
            raise ValueError(f"a map runs a capability per item, not the engine type {value!r}; name a capability")
        if not NODE_TYPE.fullmatch(value):
            raise ValueError(f"{value!r} must look like 'plugin/capability', e.g. 'http/request'")
        return value


class MapInput(_Strict):
    """The items a map runs over."""

    items: list[JsonValue] = Field(description="One call per item, in order, e.g. '{{ nodes.list.output.data }}'.")


class MapOutput(_Strict):
    """The outputs of the per-item calls."""

    results: list[JsonValue] = Field(description="The output of each item's call, in the items' order.")


# -- engine/subworkflow --------------------------------------------------------------------


class SubworkflowConfig(_Strict):
    """Start another workflow, by default waiting for it to finish."""

    workflow: str = Field(min_length=1, description="The name of the workflow to start.")
    version: int | None = Field(default=None, ge=1, description="A version to pin; the newest when unset.")
    wait: bool = Field(default=True, description="Wait for the child run to finish and return its output.")


class SubworkflowOutput(_Strict):
    """The child run."""

    execution_id: str = Field(description="The child run's execution id.")
    status: str = Field(description="The child run's status: 'completed' when waited for, else 'queued'.")
    output: JsonValue = Field(default=None, description="The child run's output; null when not waited for.")


# -- engine/human_input --------------------------------------------------------------------


def _any_object() -> dict[str, JsonValue]:
    return {"type": "object"}


class HumanInputConfig(_Strict):
    """Wait for a person to answer a form."""

    prompt: str = Field(min_length=1, description="What the person is asked, shown above the form.")
    form: dict[str, JsonValue] = Field(
        default_factory=_any_object,
        description="A JSON Schema (draft 2020-12) the answer must satisfy; it also describes the form.",
    )
    timeout: float | None = Field(default=None, gt=0, description="Seconds to wait for an answer; forever when unset.")

    @field_validator("form")
    @classmethod
    def _check_form(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "(top)"
            raise ValueError(f"the form is not a valid JSON Schema at {where}: {exc.message}") from None
        if value.get("type", "object") != "object":
            raise ValueError('the form must describe an object ("type": "object"), whose properties are the fields')
        return value


class HumanInputOutput(_Strict):
    """The answer."""

    answer: dict[str, JsonValue] = Field(description="The answer, valid against the form.")
    answered_by: str | None = Field(default=None, description="Who answered, when known.")


# -- engine/wait_signal --------------------------------------------------------------------


class WaitSignalConfig(_Strict):
    """Wait for a named signal sent to the run."""

    signal: str = Field(min_length=1, description="The signal's name, e.g. 'payment_received'.")
    timeout: float | None = Field(default=None, gt=0, description="Seconds to wait; forever when unset.")


class WaitSignalOutput(_Strict):
    """The signal's data."""

    data: dict[str, JsonValue] = Field(default_factory=dict, description="What the sender attached to the signal.")


ENGINE_NODE_CONFIGS: Final[dict[str, type[BaseModel]]] = {
    "engine/map": MapConfig,
    "engine/subworkflow": SubworkflowConfig,
    "engine/human_input": HumanInputConfig,
    "engine/wait_signal": WaitSignalConfig,
    "ocr/extract": OCRExtractConfig,
}
"""The config model of each engine node type."""

ENGINE_NODE_IO: Final[dict[str, tuple[type[BaseModel], type[BaseModel]]]] = {
    "engine/map": (MapInput, MapOutput),
    "engine/subworkflow": (_Open, SubworkflowOutput),
    "engine/human_input": (_Open, HumanInputOutput),
    "engine/wait_signal": (_Open, WaitSignalOutput),
    "ocr/extract": (OCRExtractInput, OCRExtractResult),
}
"""The input and output models of each engine node type.

A sub-workflow's input becomes the child run's input; the input of ``human_input`` and
``wait_signal`` is free-form context kept with the wait (shown with the form, for instance).
"""

_DESCRIPTIONS: Final = {
    "engine/map": "Run a capability once per item and collect the outputs in order.",
    "engine/subworkflow": "Start another workflow and, by default, wait for its output.",
    "engine/human_input": "Pause until a person answers a form.",
    "engine/wait_signal": "Pause until a named signal arrives.",
    "ocr/extract": "Read documents with the OCR engine the router picks (or the one set), recording why.",
}


def engine_spec(node_type: str) -> CapabilitySpec:
    """An engine node type described like a capability's catalog entry (one operation, 'run').

    Raises:
        KeyError: ``node_type`` is not an engine node type.
    """
    input_model, output_model = ENGINE_NODE_IO[node_type]
    return CapabilitySpec(
        name=node_type.partition("/")[2],
        kind=CapabilityKind.NODE,
        title=node_type,
        description=_DESCRIPTIONS[node_type],
        config_schema=ENGINE_NODE_CONFIGS[node_type].model_json_schema(),
        operations={
            "run": OperationSpec(
                input_schema=input_model.model_json_schema(),
                output_schema=output_model.model_json_schema(mode="serialization"),
            )
        },
    )


# -- branching -----------------------------------------------------------------------------

BRANCHING_TYPES: Final = frozenset({"core/if", "core/switch"})
"""Node types whose output names a branch; edges out of them carry that branch as ``handle``."""


def branches(node: Node) -> set[str] | None:
    """The branches a node can take, or None when it does not branch.

    ``core/if`` takes 'true' or 'false'. ``core/switch`` takes one of its rules' branch
    names, or its ``fallback`` (default 'default') unless that is null. A switch config
    that is malformed yields the branch names that can be read from it.
    """
    if node.type == "core/if":
        return {"true", "false"}
    if node.type != "core/switch":
        return None
    rules = node.config.get("rules")
    names: set[str] = set()
    for rule in rules if isinstance(rules, list) else []:
        branch = rule.get("branch") if isinstance(rule, dict) else None
        if isinstance(branch, str):
            names.add(branch)
    fallback = node.config.get("fallback", "default")
    if isinstance(fallback, str):
        names.add(fallback)
    return names
