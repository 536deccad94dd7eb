"""The node registry: one record per built-in type, handles as data, read by validator and engine alike."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from synthral.builtins.core import WaitNode
from synthral.engine.engine_nodes import HumanInputConfig, MapConfig
from synthral.engine.model import Workflow
from synthral.engine.registry import BUILTIN_TYPES, Behaviour, builtin
from synthral.engine.validate import SpecCatalog, validate_workflow
from synthral_sdk import Context, DynamicOutputs, Handle, Handles, NoConfig
from synthral_sdk import Node as SdkNode


class Item(BaseModel):
    value: int = 0


class Routed(BaseModel):
    branch: str
    value: int = 0


class Triage(SdkNode[Item, Routed, NoConfig]):
    """A plugin's own router: three declared outputs, and an error output."""

    name = "triage"
    category = "Support"
    icon = "inbox"
    handles = Handles(
        outputs=[Handle(id="urgent", label="Urgent"), Handle(id="normal"), Handle(id="spam")], error_output=True
    )

    def run(self, inputs: Item, config: NoConfig, context: Context) -> Routed:
        return Routed(branch="urgent" if inputs.value > 10 else "normal", value=inputs.value)


class Quiet(SdkNode[Item, Item, NoConfig]):
    """A plugin node that declares it never routes its failures."""

    name = "quiet"
    handles = Handles()

    def run(self, inputs: Item, config: NoConfig, context: Context) -> Item:
        return inputs


CATALOG = SpecCatalog({"desk/triage": {"1.0.0": Triage().spec()}, "desk/quiet": {"1.0.0": Quiet().spec()}})


def check(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
    workflow = Workflow.model_validate({"name": "t", "nodes": nodes, "edges": edges})
    return {(i.code, i.node, i.pointer) for i in validate_workflow(workflow, CATALOG, known_types=CATALOG.types)}


def test_every_built_in_type_has_one_record_with_its_behaviour() -> None:
    assert set(BUILTIN_TYPES) == {
        "core/set",
        "core/transform",
        "core/if",
        "core/switch",
        "core/merge",
        "core/wait",
        "core/noop",
        "engine/map",
        "engine/subworkflow",
        "engine/human_input",
        "engine/wait_signal",
        "ocr/extract",
    }
    behaviours = {name: record.behaviour for name, record in BUILTIN_TYPES.items()}
    assert behaviours["core/wait"] is Behaviour.TIMER
    assert behaviours["engine/map"] is Behaviour.MAP
    assert behaviours["engine/subworkflow"] is Behaviour.SUBWORKFLOW
    assert behaviours["engine/human_input"] is behaviours["engine/wait_signal"] is Behaviour.SIGNAL
    assert behaviours["ocr/extract"] is Behaviour.OCR
    assert [name for name, record in BUILTIN_TYPES.items() if record.joins] == ["core/merge"]
    for name, record in BUILTIN_TYPES.items():
        assert record.spec.title and record.spec.description and record.spec.category and record.spec.icon, name
        assert record.plugin in {"core", "engine", "ocr"} and name.endswith("/" + record.spec.name)
    assert builtin("http/request") is None


def test_engine_records_check_their_configs_with_their_models() -> None:
    for name in ("engine/map", "engine/subworkflow", "engine/human_input", "engine/wait_signal", "ocr/extract"):
        record = BUILTIN_TYPES[name]
        assert record.engine
        assert record.config_model is not None
        assert list(record.spec.operations) == ["run"]
        assert record.spec.config_schema["additionalProperties"] is False
    assert MapConfig.model_validate({"type": "http/request"}).concurrency == 4
    assert HumanInputConfig.model_validate({"prompt": "?"}).form == {"type": "object"}
    with pytest.raises(ValidationError, match="must describe an object"):
        HumanInputConfig.model_validate({"prompt": "?", "form": {"type": "string"}})
    with pytest.raises(ValidationError, match="must look like 'plugin/capability'"):
        MapConfig.model_validate({"type": "nonsense"})
    with pytest.raises(ValidationError, match="not the engine type 'engine/map'"):
        MapConfig.model_validate({"type": "engine/map"})


def test_the_wait_node_advertises_the_output_the_engine_returns() -> None:
    schema = BUILTIN_TYPES["core/wait"].spec.operations["run"].output_schema
    assert set(schema["properties"]) == {"data", "fired_at", "scheduled_for"}  # type: ignore[arg-type]
    assert WaitNode().spec() == BUILTIN_TYPES["core/wait"].spec


def test_handles_are_data_in_the_spec_with_dynamic_outputs_read_from_the_config() -> None:
    if_handles = BUILTIN_TYPES["core/if"].spec.handles
    assert [h.id for h in if_handles.outputs] == ["true", "false"] and if_handles.routes
    switch = BUILTIN_TYPES["core/switch"].spec.handles
    assert switch.dynamic_outputs == DynamicOutputs(
        from_config="/rules", key="branch", fallback="default", fallback_from_config="/fallback"
    )
    rules = {"rules": [{"branch": "big"}, {"branch": "small"}, {"nope": 1}, "junk"]}
    assert switch.output_ids(rules) == {"big", "small", "default"}
    assert switch.output_ids({**rules, "fallback": "other"}) == {"big", "small", "other"}
    assert switch.output_ids({**rules, "fallback": None}) == {"big", "small"}
    assert switch.output_ids({"rules": "nonsense"}) == {"default"}
    noop = BUILTIN_TYPES["core/noop"].spec.handles
    assert [h.id for h in noop.inputs] == [h.id for h in noop.outputs] == ["main"] and not noop.routes
    assert noop.error_output and not BUILTIN_TYPES["core/wait"].spec.handles.error_output
    wire = Triage().spec().wire()
    assert wire["handles"]["outputs"][0] == {"id": "urgent", "label": "Urgent"}  # type: ignore[index,call-overload]
    assert wire["handles"]["errorOutput"] is True  # type: ignore[index,call-overload]
    assert (wire["category"], wire["icon"]) == ("Support", "inbox")


def test_a_plugins_declared_outputs_are_what_its_edges_may_name() -> None:
    nodes = [
        {"id": "t", "type": "desk/triage"},
        {"id": "a", "type": "core/noop"},
        {"id": "b", "type": "core/noop"},
        {"id": "c", "type": "core/noop"},
    ]
    good = [
        {"source": "t", "target": "a", "handle": "urgent"},
        {"source": "t", "target": "b", "handle": "normal"},
        {"source": "t", "target": "c", "handle": "error"},
    ]
    assert check(nodes, good) == set()
    bad = [*good[:2], {"source": "t", "target": "c", "handle": "urgnet"}, {"source": "t", "target": "c"}]
    assert check(nodes, bad) == {("bad_handle", None, "/edges/2/handle"), ("bad_handle", None, "/edges/3/handle")}


def test_error_edges_need_an_error_output_and_main_is_the_name_of_a_single_output() -> None:
    nodes = [{"id": "q", "type": "desk/quiet"}, {"id": "n", "type": "core/noop"}, {"id": "z", "type": "core/noop"}]
    assert check(nodes, [{"source": "q", "target": "n", "handle": "main"}]) == set()
    assert check(nodes, [{"source": "q", "target": "n", "handle": "error"}]) == {
        ("bad_handle", None, "/edges/0/handle")
    }
    assert check(nodes[1:], [{"source": "n", "target": "z", "handle": "error"}]) == set()


def test_an_error_edge_is_a_way_out_of_a_loop() -> None:
    nodes = [
        {"id": "start", "type": "core/noop"},
        {"id": "spin", "type": "core/noop"},
        {"id": "out", "type": "core/noop"},
    ]
    loop = [{"source": "start", "target": "spin"}, {"source": "spin", "target": "spin"}]
    assert ("cycle_without_exit", "spin", "") in check(nodes, loop)
    assert check(nodes, [*loop, {"source": "spin", "target": "out", "handle": "error"}]) == set()
