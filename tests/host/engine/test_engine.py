"""The engine end to end on both backends: runs, branches, retries, templates, blobs, versions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from synthral.engine.model import Workflow
from synthral.errors import WorkflowInvalid
from synthral.store.blob_tables import BLOB_GRANT
from synthral.store.tables import WORKSPACE, ExecutionStatus, utcnow
from tests.support.engine import Harness, chain

pytestmark = pytest.mark.slow


async def test_a_chain_of_core_nodes_runs_and_records_every_step(harness: Harness) -> None:
    workflow = chain(
        "chain",
        {"id": "start", "type": "core/set", "config": {"values": {"n": 7}}},
        {"id": "grow", "type": "core/set", "config": {"values": {"greeting": "hi"}}},
        {"id": "shape", "type": "core/transform", "config": {"mapping": {"number": "n", "text": "greeting"}}},
    )
    execution_id = await harness.run(workflow, {"who": "Ada"})
    view = await harness.wait(execution_id)
    assert view.status == ExecutionStatus.COMPLETED
    assert view.execution["output"] == {"shape": {"data": {"number": 7, "text": "hi"}}}
    assert [s["node_id"] for s in view.steps] == ["start", "grow", "shape"]
    assert all(s["status"] == "completed" and s["attempt"] == 1 for s in view.steps)
    assert view.steps[0]["idempotency_key"] == f"{execution_id}/start/0"


async def test_plugin_steps_get_templated_input_and_a_stable_idempotency_key(harness: Harness) -> None:
    workflow = chain(
        "templated",
        {"id": "first", "type": "noop/echo", "input": {"value": "{{ trigger.city }}"}},
        {"id": "second", "type": "noop/whoami", "input": {"value": {"from": "{{ nodes.first.output.value }}"}}},
    )
    execution_id = await harness.run(workflow, {"city": "Lyon"})
    view = await harness.wait(execution_id)
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    who = view.execution["output"]["second"]["value"]
    assert who["input"] == {"from": "Lyon"}
    assert who["idempotency_key"] == f"{execution_id}/second/0"
    assert (who["execution_id"], who["node_id"], who["attempt"]) == (execution_id, "second", 1)


async def test_if_takes_one_branch_only(harness: Harness) -> None:
    workflow = {
        "name": "branching",
        "nodes": [
            {"id": "start", "type": "core/set", "config": {"values": {"n": 3}}},
            {"id": "check", "type": "core/if", "config": {"conditions": [{"path": "n", "op": "gt", "value": 2}]}},
            {"id": "big", "type": "core/set", "config": {"values": {"size": "big"}}},
            {"id": "small", "type": "core/set", "config": {"values": {"size": "small"}}},
        ],
        "edges": [
            {"source": "start", "target": "check"},
            {"source": "check", "target": "big", "handle": "true"},
            {"source": "check", "target": "small", "handle": "false"},
        ],
    }
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.COMPLETED
    assert [s["node_id"] for s in view.steps] == ["start", "check", "big"]
    assert view.execution["output"] == {"big": {"data": {"n": 3, "size": "big"}}}


async def test_merge_waits_for_every_branch(harness: Harness) -> None:
    workflow = {
        "name": "fan-in",
        "nodes": [
            {"id": "a", "type": "core/set", "config": {"values": {"a": 1}}},
            {"id": "b", "type": "noop/async-sleep", "input": {"seconds": 0.2}},
            {"id": "b2", "type": "core/set", "config": {"values": {"b": 2}, "keep_input": False}},
            {"id": "join", "type": "core/merge", "config": {"mode": "merge_objects"}},
        ],
        "edges": [
            {"source": "a", "target": "join"},
            {"source": "b", "target": "b2"},
            {"source": "b2", "target": "join"},
        ],
    }
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert view.execution["output"] == {"join": {"data": {"a": 1, "b": 2}}}
    assert [s["node_id"] for s in view.steps].count("join") == 1


async def test_retries_with_backoff_then_fail_and_record_every_attempt(harness: Harness) -> None:
    workflow = chain(
        "flaky",
        {
            "id": "call",
            "type": "noop/flaky",
            "retry": {"max_attempts": 3, "initial_interval": 0.05, "backoff_coefficient": 2},
        },
    )
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.FAILED
    assert view.execution["error_node"] == "call" and view.execution["error_type"] == "RetryableError"
    attempts = [(s["attempt"], s["status"], s["retryable"]) for s in view.steps]
    assert attempts == [(1, "failed", True), (2, "failed", True), (3, "failed", True)]


async def test_non_retryable_errors_fail_at_once(harness: Harness) -> None:
    workflow = chain(
        "broken",
        {"id": "call", "type": "noop/broken", "retry": {"max_attempts": 5, "non_retryable_errors": ["ValueError"]}},
    )
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.FAILED
    assert [s["attempt"] for s in view.steps] == [1]
    assert view.execution["error_type"] == "ValueError"


async def test_large_outputs_go_to_the_blob_store(harness: Harness) -> None:
    workflow = chain(
        "large",
        {"id": "big", "type": "noop/big", "input": {"seconds": 0.5}},
        {"id": "size", "type": "core/set", "input": {"data": {"length": "{{ nodes.big.output.value | length }}"}}},
    )
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    stored = view.steps[0]["output"]
    assert set(stored) == {"$output"} and stored["$output"]["$blob"].startswith("sha256:")
    assert view.execution["output"]["size"]["data"]["length"] == 512 * 1024


async def test_the_files_a_workspace_runs_steps_output_are_granted_to_that_workspace(harness: Harness) -> None:
    async with harness.database.transaction() as connection:
        await connection.execute(insert(WORKSPACE).values(id="ws", slug="acme", name="Acme", created_at=utcnow()))
    workflow = Workflow.model_validate(
        chain(
            "files",
            {"id": "plain", "type": "core/set", "config": {"values": {"n": 1}}},
            {"id": "big", "type": "noop/big", "input": {"seconds": 0.5}},
        )
    )
    saved = await harness.service.save(workflow, workspace_id="ws")
    view = await harness.wait(await harness.service.start(saved.workflow_id, {}, workspace_id="ws"))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    packed = view.steps[1]["output"]["$output"]["$blob"]
    async with harness.database.engine.connect() as connection:
        granted = (await connection.execute(select(BLOB_GRANT.c.workspace_id, BLOB_GRANT.c.digest))).all()
    assert [tuple(row) for row in granted] == [("ws", packed)]  # the plain step granted nothing
    big = {"id": "big", "type": "noop/big", "input": {"seconds": 1}}
    local = await harness.wait(await harness.run(chain("local", big)))
    assert local.status == ExecutionStatus.COMPLETED
    async with harness.database.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(BLOB_GRANT))).scalar() == 1


async def test_every_graph_change_is_a_new_version_and_runs_keep_theirs(harness: Harness) -> None:
    first = chain("versioned", {"id": "a", "type": "core/set", "config": {"values": {"v": 1}}})
    v1 = await harness.save(first)
    assert (await harness.save(first)).version == v1.version  # unchanged: no new version
    running = await harness.service.start(v1.workflow_id)
    second = chain("versioned", {"id": "a", "type": "core/set", "config": {"values": {"v": 2}}})
    v2 = await harness.save(second)
    assert v2.version == v1.version + 1
    view = await harness.wait(running)
    assert view.execution["workflow_version"] == v1.version
    assert view.execution["output"] == {"a": {"data": {"v": 1}}}
    assert v1.plugin_versions == {}
    pinned = await harness.save(chain("pinned", {"id": "a", "type": "noop/echo"}))
    assert pinned.plugin_versions == {"noop": "1.0.0"}


async def test_an_invalid_workflow_is_refused_with_every_problem(harness: Harness) -> None:
    bad = {
        "name": "bad",
        "nodes": [
            {"id": "a", "type": "nosuch/thing"},
            {"id": "b", "type": "core/if", "config": {"conditions": []}},
        ],
        "edges": [{"source": "a", "target": "ghost"}],
    }
    with pytest.raises(WorkflowInvalid) as caught:
        await harness.save(bad)
    codes = {issue["code"] for issue in caught.value.details["issues"]}  # type: ignore[union-attr]
    assert {"unknown_node_type", "config_invalid", "edge_unknown_target"} <= codes


async def test_a_failure_follows_the_error_edge_instead_of_failing_the_run(harness: Harness) -> None:
    workflow = {
        "name": "guarded",
        "nodes": [
            {"id": "call", "type": "noop/broken", "retry": {"max_attempts": 2, "initial_interval": 0.01}},
            {"id": "fine", "type": "core/set", "config": {"values": {"ok": True}}},
            {"id": "report", "type": "core/set", "input": {"data": {"why": "{{ nodes.call.output.error.message }}"}}},
        ],
        "edges": [
            {"source": "call", "target": "fine"},
            {"source": "call", "target": "report", "handle": "error"},
        ],
    }
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert [(s["node_id"], s["status"]) for s in view.steps] == [
        ("call", "failed"),
        ("call", "failed"),
        ("report", "completed"),
    ]
    assert set(view.execution["output"]) == {"report"}
    assert view.execution["output"]["report"]["data"]["why"]  # the error's message reached the template


async def test_a_switch_takes_the_rule_that_matches_or_its_fallback(harness: Harness) -> None:
    rules = [{"branch": "big", "conditions": [{"path": "n", "op": "gt", "value": 10}]}]
    workflow = {
        "name": "switching",
        "nodes": [
            {"id": "route", "type": "core/switch", "config": {"rules": rules, "fallback": "other"}},
            {"id": "big", "type": "core/set", "config": {"values": {"size": "big"}}},
            {"id": "small", "type": "core/set", "config": {"values": {"size": "small"}}},
        ],
        "edges": [
            {"source": "route", "target": "big", "handle": "big"},
            {"source": "route", "target": "small", "handle": "other"},
        ],
    }
    small = await harness.wait(await harness.run(workflow, {"n": 3}))
    big = await harness.wait(await harness.run(workflow, {"n": 30}))
    assert [s["node_id"] for s in small.steps] == ["route", "small"]
    assert [s["node_id"] for s in big.steps] == ["route", "big"]
