"""Workflow validation against real capability specs: the core nodes and small SDK nodes."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral.builtins.core import synthral_nodes
from synthral.engine.model import Workflow
from synthral.engine.validate import SpecCatalog, ValidationIssue, ensure_valid, validate_workflow
from synthral.errors import WorkflowInvalid
from synthral.plugins.host import CatalogEntry
from synthral_sdk import (
    Context,
    DeleteRequest,
    DeleteResult,
    NoConfig,
    QueryRequest,
    QueryResult,
    UpsertRequest,
    UpsertResult,
    VectorStore,
)
from synthral_sdk import Node as SdkNode


class FetchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=30, gt=0)
    mode: Literal["json", "text"] = "json"


class FetchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class FetchOutput(BaseModel):
    status: int
    body: JsonValue = None


class Fetch(SdkNode[FetchInput, FetchOutput, FetchConfig]):
    """Fetch a URL (its spec is what these tests use)."""

    name = "fetch"

    def run(self, inputs: FetchInput, config: FetchConfig, context: Context) -> FetchOutput:
        return FetchOutput(status=200)


class MemoryStore(VectorStore[NoConfig]):
    """A vector store with three operations."""

    name = "memory"

    def upsert(self, request: UpsertRequest, config: NoConfig, context: Context) -> UpsertResult:
        raise NotImplementedError("only the spec is used here")

    def query(self, request: QueryRequest, config: NoConfig, context: Context) -> QueryResult:
        raise NotImplementedError("only the spec is used here")

    def delete(self, request: DeleteRequest, config: NoConfig, context: Context) -> DeleteResult:
        raise NotImplementedError("only the spec is used here")


def make_catalog() -> SpecCatalog:
    catalog = SpecCatalog()
    for node in synthral_nodes():
        catalog.add("core", "0.1.0", node.spec())
    catalog.add("web", "1.0.0", Fetch().spec())
    catalog.add("web", "1.1.0", Fetch().spec())
    catalog.add("vec", "0.3.0", MemoryStore().spec())
    return catalog


CATALOG = make_catalog()


def check(nodes: list[Any], edges: list[dict[str, Any]] | None = None, **extra: Any) -> list[ValidationIssue]:
    workflow = Workflow.model_validate({"name": "t", "nodes": nodes, "edges": edges or [], **extra})
    return validate_workflow(workflow, CATALOG, known_types=CATALOG.types)


def found(issues: list[ValidationIssue]) -> set[tuple[str, str | None, str]]:
    return {(issue.code, issue.node, issue.field) for issue in issues}


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    return {"source": source, "target": target, "handle": handle}


IF = {"conditions": [{"path": "ok", "op": "eq", "value": True}]}
SWITCH = {"rules": [{"branch": "big", "conditions": [{"path": "n", "op": "gt", "value": 10}]}]}


def test_a_workflow_using_every_kind_of_node_is_valid() -> None:
    nodes = [
        {"id": "start", "type": "core/set", "config": {"values": {"n": 1}}, "input": {"data": "{{ trigger }}"}},
        {"id": "get", "type": "web/fetch", "input": {"url": "{{ trigger.url }}"}, "config": {"timeout": 5}},
        {"id": "decide", "type": "core/if", "config": IF, "input": {"data": "{{ nodes.get.output }}"}},
        {"id": "route", "type": "core/switch", "config": SWITCH},
        {
            "id": "each",
            "type": "engine/map",
            "input": {"items": "{{ nodes.get.output.body }}"},
            "config": {
                "type": "web/fetch",
                "config": {"mode": "text"},
                "input": {"url": "{{ item.url }}#{{ index }}"},
            },
        },
        {
            "id": "ask",
            "type": "engine/human_input",
            "config": {
                "prompt": "OK?",
                "form": {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}},
                    "required": ["ok"],
                },
            },
        },
        {"id": "child", "type": "engine/subworkflow", "config": {"workflow": "other"}, "input": {"x": 1}},
        {"id": "hold", "type": "engine/wait_signal", "config": {"signal": "go", "timeout": 60}},
        {"id": "join", "type": "core/merge"},
        {"id": "store", "type": "vec/memory", "operation": "query", "input": {"vector": [0.1]}},
    ]
    edges = [
        edge("start", "get"),
        edge("get", "decide"),
        edge("decide", "route", "true"),
        edge("decide", "ask", "false"),
        edge("route", "each", "big"),
        edge("route", "child", "default"),
        edge("each", "join"),
        edge("child", "join"),
        edge("ask", "hold"),
        edge("hold", "store"),
    ]
    triggers = [{"type": "cron", "cron": "0 9 * * mon-fri", "timezone": "Europe/Paris"}, {"type": "manual"}]
    assert check(nodes, edges, triggers=triggers) == []


# -- node types, operations, configs ----------------------------------------------------------


def test_unknown_node_types_are_named_with_close_matches() -> None:
    issues = check([{"id": "a", "type": "core/transfrom"}, {"id": "b", "type": "engine/mapp"}])
    assert found(issues) == {("unknown_node_type", "a", "type"), ("unknown_node_type", "b", "type")}
    assert "'core/transfrom'" in issues[0].message
    assert "did you mean 'core/transform'" in issues[0].message
    assert "'engine/map'" in issues[1].message


def test_a_pinned_version_that_is_not_installed_is_named_as_such() -> None:
    issues = check([{"id": "a", "type": "web/fetch", "version": "9.9", "input": {"url": "x"}}])
    assert found(issues) == {("unknown_node_type", "a", "type")}
    assert "version '9.9' of 'web/fetch' is not installed" in issues[0].message
    assert check([{"id": "a", "type": "web/fetch", "version": "1.0.0", "input": {"url": "x"}}]) == []


def test_operations_must_exist_and_be_chosen_when_there_are_several() -> None:
    issues = check(
        [
            {"id": "none_given", "type": "vec/memory"},
            {"id": "typo", "type": "vec/memory", "operation": "qurey"},
            {"id": "single", "type": "core/set", "operation": "go"},
            {"id": "engine", "type": "engine/wait_signal", "operation": "run", "config": {"signal": "s"}},
        ]
    )
    assert found(issues) == {
        ("unknown_operation", "none_given", "operation"),
        ("unknown_operation", "typo", "operation"),
        ("unknown_operation", "single", "operation"),
        ("unknown_operation", "engine", "operation"),
    }
    messages = {issue.node: issue.message for issue in issues}
    assert "several operations (count, delete, query, upsert)" in messages["none_given"]
    assert "did you mean 'query'" in messages["typo"]
    assert "has no operations; remove 'operation'" in messages["engine"]
    assert check([{"id": "ok", "type": "core/set", "operation": "run"}]) == []


def test_capability_configs_are_checked_against_their_json_schema_naming_each_path() -> None:
    issues = check(
        [
            {"id": "cond", "type": "core/if", "config": {"conditions": [{"path": "a", "op": "eqq"}], "extra": 1}},
            {"id": "empty", "type": "core/if"},
            {"id": "get", "type": "web/fetch", "config": {"timeout": -1, "mode": "xml"}, "input": {"url": "u"}},
        ]
    )
    assert found(issues) == {
        ("config_invalid", "cond", "config"),
        ("config_invalid", "cond", "config.conditions[0].op"),
        ("config_invalid", "empty", "config"),
        ("config_invalid", "get", "config.timeout"),
        ("config_invalid", "get", "config.mode"),
    }
    messages = [issue.message for issue in issues]
    assert any("node 'cond': config.conditions[0].op: 'eqq' is not one of" in m for m in messages)
    assert any("'extra' was unexpected" in m for m in messages)
    assert any("node 'empty': config: 'conditions' is a required property" in m for m in messages)
    assert any("node 'get': config.timeout: -1 is less than or equal to the minimum of 0" in m for m in messages)


def test_engine_node_configs_are_checked_with_their_models() -> None:
    issues = check(
        [
            {
                "id": "m",
                "type": "engine/map",
                "config": {"type": "web/fetch", "concurrency": 0},
                "input": {"items": []},
            },
            {"id": "s", "type": "engine/subworkflow", "config": {"version": 0}},
            {"id": "h", "type": "engine/human_input", "config": {"prompt": "?", "form": {"type": "nope"}}},
            {"id": "w", "type": "engine/wait_signal", "config": {"signal": "go", "colour": "red"}},
        ]
    )
    assert found(issues) == {
        ("config_invalid", "m", "config.concurrency"),
        ("config_invalid", "s", "config.workflow"),
        ("config_invalid", "s", "config.version"),
        ("config_invalid", "h", "config.form"),
        ("config_invalid", "w", "config.colour"),
    }
    form = next(issue for issue in issues if issue.node == "h")
    assert "not a valid JSON Schema" in form.message


def test_a_map_checks_the_capability_it_runs_per_item() -> None:
    issues = check(
        [
            {"id": "typo", "type": "engine/map", "config": {"type": "web/fetsh"}, "input": {"items": []}},
            {
                "id": "bad",
                "type": "engine/map",
                "input": {"items": "{{ trigger.rows }}"},
                "config": {
                    "type": "web/fetch",
                    "config": {"timeout": 0},
                    "input": {"url": "{{ item }}", "body": "x"},
                    "concurrency": 100,
                },
            },
            {"id": "ops", "type": "engine/map", "config": {"type": "vec/memory"}, "input": {"items": []}},
            {"id": "noitems", "type": "engine/map", "config": {"type": "core/noop"}},
            {"id": "engine", "type": "engine/map", "config": {"type": "engine/map"}, "input": {"items": []}},
        ]
    )
    assert found(issues) == {
        ("unknown_node_type", "typo", "config.type"),
        ("config_invalid", "bad", "config.config.timeout"),
        ("config_invalid", "bad", "config.concurrency"),
        ("input_invalid", "bad", "config.input.body"),
        ("unknown_operation", "ops", "config.operation"),
        ("input_invalid", "noitems", "input.items"),
        ("config_invalid", "engine", "config.type"),
    }


def test_unknown_input_fields_are_reported_when_the_capability_forbids_them() -> None:
    issues = check([{"id": "get", "type": "web/fetch", "input": {"url": "u", "heders": {}}}])
    assert found(issues) == {("input_invalid", "get", "input.heders")}
    assert "did you mean 'headers'" in issues[0].message


# -- edges and handles ------------------------------------------------------------------------


def test_edges_must_connect_existing_nodes_once() -> None:
    nodes = [{"id": "a", "type": "core/noop"}, {"id": "b", "type": "core/noop"}]
    issues = check(nodes, [edge("a", "b"), edge("a", "bb"), edge("ghost", "b"), edge("a", "b")])
    assert found(issues) == {
        ("edge_unknown_target", None, "edges[1]"),
        ("edge_unknown_source", None, "edges[2]"),
        ("duplicate_edge", None, "edges[3]"),
    }
    assert [issue.pointer for issue in issues] == ["/edges/1", "/edges/2", "/edges/3"]
    assert "there is no node 'bb' (did you mean 'b'?)" in issues[0].message


def test_handles_must_name_a_branch_of_a_branching_node_and_only_there() -> None:
    nodes = [
        {"id": "a", "type": "core/noop"},
        {"id": "i", "type": "core/if", "config": IF},
        {"id": "s", "type": "core/switch", "config": SWITCH},
        {"id": "t", "type": "core/noop"},
    ]
    edges = [
        edge("a", "i", "true"),
        edge("i", "s"),
        edge("i", "t", "yes"),
        edge("s", "t", "bigg"),
        edge("s", "a", "default"),
        edge("i", "t", "false"),
    ]
    issues = check(nodes, edges)
    assert {(i.code, i.node, i.pointer) for i in issues if i.code == "bad_handle"} == {
        ("bad_handle", None, "/edges/0/handle"),
        ("bad_handle", None, "/edges/1/handle"),
        ("bad_handle", None, "/edges/2/handle"),
        ("bad_handle", None, "/edges/3/handle"),
    }
    messages = {issue.field: issue.message for issue in issues}
    assert "does not branch" in messages["edges[0].handle"]
    assert "needs a handle; use one of: 'false', 'true'" in messages["edges[1].handle"]
    assert "no branch 'bigg' (did you mean 'big'?)" in messages["edges[3].handle"]


def test_a_switch_without_fallback_has_only_its_rules_branches() -> None:
    switch = {**SWITCH, "fallback": None}
    nodes = [{"id": "s", "type": "core/switch", "config": switch}, {"id": "t", "type": "core/noop"}]
    issues = check(nodes, [edge("s", "t", "default")])
    assert found(issues) == {("bad_handle", None, "edges[0].handle")}
    assert check(nodes, [edge("s", "t", "big")]) == []


# -- the graph --------------------------------------------------------------------------------


def test_a_workflow_needs_a_node_to_start_from() -> None:
    nodes = [{"id": "a", "type": "core/noop"}, {"id": "b", "type": "core/noop"}]
    issues = check(nodes, [edge("a", "b"), edge("b", "a")])
    assert ("no_start", None, "edges") in found(issues)


def test_every_node_must_be_reachable_from_a_start() -> None:
    nodes = [
        {"id": "start", "type": "core/noop"},
        {"id": "i", "type": "core/if", "config": IF},
        {"id": "island", "type": "core/noop"},
    ]
    issues = check(nodes, [edge("island", "i"), edge("i", "island", "true")])
    assert ("unreachable_node", "i", "") in found(issues)
    assert ("unreachable_node", "island", "") in found(issues)
    assert "start node (start)" in issues[0].message


def test_loops_without_an_exit_are_named() -> None:
    nodes = [
        {"id": "begin", "type": "core/noop"},
        {"id": "a", "type": "core/noop"},
        {"id": "b", "type": "core/noop"},
        {"id": "spin", "type": "core/noop"},
        {"id": "i", "type": "core/if", "config": IF},
        {"id": "c", "type": "core/noop"},
    ]
    edges = [
        edge("begin", "a"),
        edge("a", "b"),
        edge("b", "a"),
        edge("begin", "spin"),
        edge("spin", "spin"),
        edge("begin", "i"),
        edge("i", "c", "true"),  # both branches stay in the loop
        edge("i", "c", "false"),
        edge("c", "i"),
    ]
    issues = [issue for issue in check(nodes, edges) if issue.code == "cycle_without_exit"]
    assert {issue.node for issue in issues} == {"a", "spin", "i"}
    messages = " | ".join(issue.message for issue in issues)
    assert "nodes a -> b -> a form a loop" in messages
    assert "nodes spin -> spin form a loop" in messages


def test_a_loop_with_a_branch_leading_out_is_valid() -> None:
    nodes = [
        {"id": "begin", "type": "core/set", "config": {"values": {"n": 0}}},
        {"id": "step", "type": "core/noop", "input": {"data": "{{ nodes.step.output.data if nodes.step is defined }}"}},
        {"id": "more", "type": "core/if", "config": IF, "input": {"data": "{{ nodes.step.output.data }}"}},
        {"id": "done", "type": "core/noop", "input": {"data": "{{ nodes.more.output.data }}"}},
    ]
    edges = [edge("begin", "step"), edge("step", "more"), edge("more", "step", "true"), edge("more", "done", "false")]
    assert check(nodes, edges) == []


# -- templates --------------------------------------------------------------------------------


def test_templates_must_compile() -> None:
    issues = check([{"id": "a", "type": "core/noop", "input": {"data": {"x": ["{{ oops( }}"]}}}])
    assert found(issues) == {("invalid_template", "a", "input.data.x[0]")}
    assert "syntax error on line 1" in issues[0].message
    assert "node 'a' input.data.x[0]" in issues[0].message
    include = check([{"id": "a", "type": "core/noop", "input": {"data": "{% include 'x' %}"}}])
    assert found(include) == {("invalid_template", "a", "input.data")}


def test_references_must_name_nodes_that_run_before() -> None:
    nodes = [
        {"id": "start", "type": "core/noop"},
        {"id": "left", "type": "core/noop"},
        {"id": "right", "type": "core/noop", "input": {"data": "{{ nodes.left.output }}"}},
        {
            "id": "end",
            "type": "core/noop",
            "input": {
                "data": {
                    "a": "{{ nodes.left.output }}",
                    "b": "{{ nodes['right'].output }}",
                    "c": "{{ nodes.lefft.output }}",
                    "d": "{{ nodes.end.output }}",
                    "e": "{{ nodes.after.output }}",
                }
            },
        },
        {"id": "after", "type": "core/noop"},
    ]
    edges = [
        edge("start", "left"),
        edge("start", "right"),
        edge("left", "end"),
        edge("right", "end"),
        edge("end", "after"),
    ]
    issues = check(nodes, edges)
    assert found(issues) == {
        ("not_upstream", "right", "input.data"),
        ("unknown_reference", "end", "input.data.c"),
        ("not_upstream", "end", "input.data.d"),
        ("not_upstream", "end", "input.data.e"),
    }
    messages = {issue.field + str(issue.node): issue.message for issue in issues}
    assert "no node 'lefft' (did you mean 'left'?)" in messages["input.data.cend"]
    assert "'left' cannot run before 'right'" in messages["input.dataright"]


def test_templates_may_only_read_the_scope() -> None:
    nodes = [
        {"id": "a", "type": "core/noop", "input": {"data": "{{ triger.url }} {{ item }}"}},
        {
            "id": "m",
            "type": "engine/map",
            "input": {"items": "{{ trigger.rows }}"},
            "config": {
                "type": "web/fetch",
                "input": {"url": "{{ item.url }}?n={{ index }}&run={{ execution.id }}"},
            },
        },
        {
            "id": "n",
            "type": "engine/map",
            "input": {"items": []},
            "config": {
                "type": "web/fetch",
                "input": {"url": "{{ nodes.a.output }} {{ nodes.zz }} {{ itme }}"},
            },
        },
    ]
    issues = check(nodes, [edge("a", "m"), edge("m", "n")])
    assert found(issues) == {
        ("unknown_variable", "a", "input.data"),
        ("unknown_reference", "n", "config.input.url"),
        ("unknown_variable", "n", "config.input.url"),
    }
    messages = " | ".join(issue.message for issue in issues)
    assert "reads 'triger', which is not defined (did you mean 'trigger'?)" in messages
    assert "reads 'item'" in messages
    assert "reads 'itme', which is not defined (did you mean 'item'?)" in messages


# -- triggers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "field", "code", "text"),
    [
        ({"cron": "61 * * * *"}, "triggers[0].cron", "invalid_cron", "higher than the maximum value (59)"),
        ({"cron": "* * *"}, "triggers[0].cron", "invalid_cron", "Wrong number of fields"),
        ({"cron": "0 9 * * mon-fry"}, "triggers[0].cron", "invalid_cron", "not a valid cron expression"),
        (
            {"cron": "0 9 * * *", "timezone": "Europe/Pariss"},
            "triggers[0].timezone",
            "unknown_timezone",
            "'Europe/Paris'",
        ),
        ({"cron": "0 9 * * *", "timezone": "../etc/passwd"}, "triggers[0].timezone", "unknown_timezone", "IANA"),
    ],
)
def test_cron_triggers_must_parse(trigger: dict[str, Any], field: str, code: str, text: str) -> None:
    issues = check([{"id": "a", "type": "core/noop"}], triggers=[{"type": "cron", **trigger}])
    assert found(issues) == {(code, None, field)}
    assert text in issues[0].message


def test_valid_triggers_pass() -> None:
    triggers = [
        {"type": "cron", "cron": "*/15 8-18 * * mon-fri", "timezone": "America/New_York", "catch_up": "all"},
        {"type": "webhook"},
        {"type": "signal", "signal": "go"},
    ]
    assert check([{"id": "a", "type": "core/noop"}], triggers=triggers) == []


# -- raising, catalogs, branching -------------------------------------------------------------


def test_ensure_valid_raises_with_every_issue_listed() -> None:
    workflow = Workflow.model_validate(
        {
            "name": "broken",
            "nodes": [{"id": "a", "type": "core/nope"}, {"id": "b", "type": "core/if"}],
            "edges": [edge("a", "b", "x")],
        }
    )
    with pytest.raises(WorkflowInvalid) as caught:
        ensure_valid(workflow, CATALOG, known_types=CATALOG.types)
    error = caught.value
    issues = validate_workflow(workflow, CATALOG, known_types=CATALOG.types)
    assert error.message.startswith(f"workflow 'broken' is invalid ({len(issues)} problems):")
    for issue in issues:
        assert f"- {issue.message}" in error.message
    assert error.details["issues"] == [issue.model_dump() for issue in issues]
    assert error.code == "workflow_invalid"
    ensure_valid(Workflow.model_validate({"name": "ok", "nodes": [{"id": "a", "type": "core/noop"}]}), CATALOG)


def test_spec_catalog_defaults_to_the_last_version_added() -> None:
    old, new = Fetch().spec(), MemoryStore().spec().model_copy(update={"name": "fetch"})
    catalog = SpecCatalog.from_entries(
        [CatalogEntry("web", "1.0.0", False, old), CatalogEntry("web", "2.0.0", False, new)]
    )
    assert catalog("web/fetch", None) is new
    assert catalog("web/fetch", "1.0.0") is old
    assert catalog("web/fetch", "3.0.0") is None
    assert catalog("web/other", None) is None
    assert catalog.types == ["web/fetch"]
