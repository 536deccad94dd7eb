"""The config, input and output models of the node types the engine implements itself.

Plugins provide every other node type. These four need the engine's own machinery: running
a capability once per item (``engine/map``), starting another workflow
(``engine/subworkflow``) and waiting durably for a person or a signal
(``engine/human_input``, ``engine/wait_signal``). Their records (catalog entry, behaviour)
are in :mod:`synthral.engine.registry`; their configs are checked with these models when a
workflow is saved.
"""

from __future__ import annotations

from jsonschema import Draft202012Validator, SchemaError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from synthral.engine.model import ENGINE_PLUGIN, NODE_TYPE

__all__ = [
    "HumanInputConfig",
    "HumanInputOutput",
    "MapConfig",
    "MapInput",
    "MapOutput",
    "OpenInput",
    "SubworkflowConfig",
    "SubworkflowOutput",
    "WaitSignalConfig",
    "WaitSignalOutput",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenInput(BaseModel):
    """A node input that takes any fields.

    A sub-workflow's input becomes the child run's input; the input of ``human_input`` and
    ``wait_signal`` is free-form context kept with the wait (shown with the form, for instance).
    """

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
        if value.partition("/")[0] == ENGINE_PLUGIN:
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
