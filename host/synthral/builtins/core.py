"""Core logic nodes: set, transform, if, switch, merge, wait and no-op.

They run inside the host process (they only move JSON around, so a process hop would be
pure overhead) but implement the same SDK interface as any plugin's nodes and are
registered into the same PluginManager, under the plugin name ``core``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from synthral.errors import InputInvalid
from synthral_sdk import Context, DynamicOutputs, Handle, Handles, NoConfig, Node, hookimpl

__all__ = ["Condition", "WaitConfig", "fire_at", "synthral_nodes"]

_MISSING = object()

Operator = Literal[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "matches",
    "in",
    "not_in",
    "exists",
    "not_exists",
    "is_empty",
    "is_not_empty",
]


def get_path(data: JsonValue, path: str) -> object:
    """The value at a dotted path (``items.0.title``), or ``_MISSING``."""
    current: object = data
    for part in path.split(".") if path else []:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def set_path(data: dict[str, JsonValue], path: str, value: JsonValue) -> None:
    """Set a dotted path, creating objects on the way."""
    parts = path.split(".")
    current = data
    for part in parts[:-1]:
        child = current.get(part)
        if not isinstance(child, dict):
            child = {}
            current[part] = child
        current = child
    current[parts[-1]] = value


class Item(BaseModel):
    """The data a logic node works on."""

    model_config = ConfigDict(extra="forbid")

    data: JsonValue = Field(default=None, description="The incoming item, usually an object.")


class ItemOut(BaseModel):
    """The data a logic node passes on."""

    data: JsonValue = None


class Condition(BaseModel):
    """A test on one value of the item: ``{"path": "status", "op": "eq", "value": 200}``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(default="", description="Dotted path into the item; '' tests the item itself.")
    op: Operator = "eq"
    value: JsonValue = None

    def test(self, data: JsonValue) -> bool:
        """Whether the item satisfies the condition."""
        left = get_path(data, self.path)
        if self.op == "exists":
            return left is not _MISSING
        if self.op == "not_exists":
            return left is _MISSING
        if left is _MISSING:
            return False
        right = self.value
        if self.op in {"is_empty", "is_not_empty"}:
            empty = left is None or left in ("", [], {})
            return empty if self.op == "is_empty" else not empty
        if self.op == "eq":
            return left == right
        if self.op == "ne":
            return left != right
        if self.op in {"gt", "gte", "lt", "lte"}:
            return self._compare(left, right)
        if self.op in {"contains", "not_contains"}:
            if not isinstance(left, str | list | dict):
                raise InputInvalid(f"condition on '{self.path}': '{self.op}' needs a string, list or object there")
            found = right in left if not isinstance(left, str) else str(right) in left
            return found if self.op == "contains" else not found
        if self.op in {"in", "not_in"}:
            if not isinstance(right, list | str):
                raise InputInvalid(f"condition on '{self.path}': '{self.op}' needs a list (or string) as its value")
            found = left in right if isinstance(right, list) else str(left) in right
            return found if self.op == "in" else not found
        text = str(left)
        if self.op == "starts_with":
            return text.startswith(str(right))
        if self.op == "ends_with":
            return text.endswith(str(right))
        return re.search(str(right), text) is not None  # "matches"

    def _compare(self, left: object, right: JsonValue) -> bool:
        numbers = (int, float)
        comparable = (isinstance(left, numbers) and isinstance(right, numbers) and not isinstance(left, bool)) or (
            isinstance(left, str) and isinstance(right, str)
        )
        if not comparable:
            raise InputInvalid(
                f"condition on '{self.path}': cannot compare {type(left).__name__} with {type(right).__name__} "
                f"using '{self.op}'; compare numbers with numbers or strings with strings",
                details={"path": self.path, "op": self.op},
            )
        if self.op == "gt":
            return left > right  # type: ignore[operator]  # checked comparable above
        if self.op == "gte":
            return left >= right  # type: ignore[operator]
        if self.op == "lt":
            return left < right  # type: ignore[operator]
        return left <= right  # type: ignore[operator]


def _all_or_any(conditions: list[Condition], combine: str, data: JsonValue) -> bool:
    results = (condition.test(data) for condition in conditions)
    return all(results) if combine == "all" else any(results)


# -- set / transform -----------------------------------------------------------------------


class SetConfig(BaseModel):
    """Fields to set on the item."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, JsonValue] = Field(default_factory=dict, description="Dotted path → value.")
    keep_input: bool = Field(default=True, description="Start from the incoming item (else from an empty object).")


class SetNode(Node[Item, ItemOut, SetConfig]):
    """Set fields on the item: add, overwrite or build a new object."""

    name = "set"
    title = "Set fields"
    category = "Data"
    icon = "pencil"

    async def run(self, inputs: Item, config: SetConfig, context: Context) -> ItemOut:
        base = inputs.data if config.keep_input and isinstance(inputs.data, dict) else {}
        result: dict[str, JsonValue] = dict(base)
        for path, value in config.values.items():
            set_path(result, path, value)
        return ItemOut(data=result)


class TransformConfig(BaseModel):
    """A new object built from paths into the item."""

    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, str] = Field(description="Output dotted path → input dotted path.")
    on_missing: Literal["null", "skip", "error"] = "null"


class TransformNode(Node[Item, ItemOut, TransformConfig]):
    """Reshape the item: pick, rename and nest fields."""

    name = "transform"
    title = "Transform"
    category = "Data"
    icon = "shuffle"

    async def run(self, inputs: Item, config: TransformConfig, context: Context) -> ItemOut:
        result: dict[str, JsonValue] = {}
        for target, source in config.mapping.items():
            value = get_path(inputs.data, source)
            if value is _MISSING:
                if config.on_missing == "error":
                    raise InputInvalid(
                        f"the item has no field '{source}' (mapped to '{target}'); "
                        "fix the mapping or set on_missing to 'null' or 'skip'",
                        details={"path": source},
                    )
                if config.on_missing == "skip":
                    continue
                value = None
            set_path(result, target, value)  # type: ignore[arg-type]  # values read from JSON are JSON
        return ItemOut(data=result)


# -- branching -----------------------------------------------------------------------------


class IfConfig(BaseModel):
    """Conditions that pick the 'true' or 'false' branch."""

    model_config = ConfigDict(extra="forbid")

    conditions: list[Condition] = Field(min_length=1)
    combine: Literal["all", "any"] = "all"


class BranchOut(BaseModel):
    """The branch taken and the unchanged item."""

    branch: str = Field(description="The edge handle to follow.")
    data: JsonValue = None


class IfNode(Node[Item, BranchOut, IfConfig]):
    """Route the item to the 'true' or the 'false' branch."""

    name = "if"
    title = "If"
    category = "Flow"
    icon = "split"
    handles = Handles(outputs=[Handle(id="true", label="true"), Handle(id="false", label="false")], error_output=True)

    async def run(self, inputs: Item, config: IfConfig, context: Context) -> BranchOut:
        taken = _all_or_any(config.conditions, config.combine, inputs.data)
        return BranchOut(branch="true" if taken else "false", data=inputs.data)


class SwitchRule(BaseModel):
    """One branch of a switch and when to take it."""

    model_config = ConfigDict(extra="forbid")

    branch: str = Field(min_length=1)
    conditions: list[Condition] = Field(min_length=1)
    combine: Literal["all", "any"] = "all"


class SwitchConfig(BaseModel):
    """Rules tried in order; the first that matches wins."""

    model_config = ConfigDict(extra="forbid")

    rules: list[SwitchRule] = Field(min_length=1)
    fallback: str | None = Field(default="default", description="Branch when no rule matches; None fails the node.")

    @model_validator(mode="after")
    def _unique_branches(self) -> SwitchConfig:
        names = [rule.branch for rule in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("every rule needs its own branch name")
        return self


class SwitchNode(Node[Item, BranchOut, SwitchConfig]):
    """Route the item to the first branch whose conditions hold."""

    name = "switch"
    title = "Switch"
    category = "Flow"
    icon = "signpost"
    handles = Handles(
        outputs=[],
        dynamic_outputs=DynamicOutputs(
            from_config="/rules", key="branch", fallback="default", fallback_from_config="/fallback"
        ),
        error_output=True,
    )

    async def run(self, inputs: Item, config: SwitchConfig, context: Context) -> BranchOut:
        for rule in config.rules:
            if _all_or_any(rule.conditions, rule.combine, inputs.data):
                return BranchOut(branch=rule.branch, data=inputs.data)
        if config.fallback is None:
            raise InputInvalid(
                "no switch rule matched the item and the switch has no fallback branch; add a rule or a fallback"
            )
        return BranchOut(branch=config.fallback, data=inputs.data)


# -- merge / wait / no-op ------------------------------------------------------------------


class MergeInput(BaseModel):
    """What arrived on each incoming edge, in edge order."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[JsonValue] = Field(description="One value per incoming edge.")


class MergeConfig(BaseModel):
    """How to combine the incoming values."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["append", "merge_objects", "zip", "first"] = "append"


class MergeNode(Node[MergeInput, ItemOut, MergeConfig]):
    """Combine the results of several branches once all have arrived."""

    name = "merge"
    title = "Merge"
    category = "Flow"
    icon = "merge"

    async def run(self, inputs: MergeInput, config: MergeConfig, context: Context) -> ItemOut:
        values = inputs.inputs
        if config.mode == "first":
            return ItemOut(data=next((v for v in values if v is not None), None))
        if config.mode == "append":
            merged: list[JsonValue] = []
            for value in values:
                merged.extend(value if isinstance(value, list) else [value])
            return ItemOut(data=merged)
        if config.mode == "merge_objects":
            result: dict[str, JsonValue] = {}
            for position, value in enumerate(values):
                if not isinstance(value, dict):
                    raise InputInvalid(
                        f"merge_objects needs objects, but input {position} is {type(value).__name__}; "
                        "use mode 'append' for other values"
                    )
                result.update(value)
            return ItemOut(data=result)
        lists = [value if isinstance(value, list) else [value] for value in values]
        return ItemOut(data=[list(row) for row in zip(*lists, strict=False)])


class WaitConfig(BaseModel):
    """How long to wait: a duration or a moment."""

    model_config = ConfigDict(extra="forbid")

    seconds: float | None = Field(default=None, ge=0, description="Wait this long.")
    until: datetime | None = Field(default=None, description="Wait until this moment (with a time zone).")

    @model_validator(mode="after")
    def _one_of(self) -> WaitConfig:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("set exactly one of 'seconds' or 'until'")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("'until' needs a time zone, e.g. 2026-12-01T09:00:00+01:00")
        return self


class WaitOut(BaseModel):
    """The item, and when the wait ended."""

    data: JsonValue = None
    fired_at: datetime = Field(description="When the wait ended (never before scheduled_for).")
    scheduled_for: datetime = Field(description="When it was due to end.")


class WaitNode(Node[Item, WaitOut, WaitConfig]):
    """Pause, then pass the item on unchanged.

    Called directly, it sleeps in place. In a workflow the engine turns it into a durable
    timer that survives restarts; either way the output is the same.
    """

    name = "wait"
    title = "Wait"
    category = "Flow"
    icon = "clock"
    handles = Handles()

    async def run(self, inputs: Item, config: WaitConfig, context: Context) -> WaitOut:
        due = fire_at(config, datetime.now(UTC))
        delay = (due - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        return WaitOut(data=inputs.data, fired_at=datetime.now(UTC), scheduled_for=due)


def fire_at(config: WaitConfig, now: datetime) -> datetime:
    """When a wait with ``config`` that starts at ``now`` is due."""
    if config.seconds is not None:
        return now + timedelta(seconds=config.seconds)
    assert config.until is not None  # checked by the validator
    return config.until.astimezone(UTC)


class NoopNode(Node[Item, ItemOut, NoConfig]):
    """Pass the item on unchanged (a placeholder, or a join point)."""

    name = "noop"
    title = "No operation"
    category = "Flow"
    icon = "circle"

    async def run(self, inputs: Item, config: NoConfig, context: Context) -> ItemOut:
        return ItemOut(data=inputs.data)


@hookimpl
def synthral_nodes() -> list[Node[Any, Any, Any]]:
    """The core logic nodes."""
    return [SetNode(), TransformNode(), IfNode(), SwitchNode(), MergeNode(), WaitNode(), NoopNode()]
