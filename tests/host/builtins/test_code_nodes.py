"""The code nodes in workflows: templated inputs, JavaScript, output schemas, tools, failures that say why."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from synthral.builtins.code import CodeNodes
from synthral.config import EngineSettings
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.code import CodeService, ToolDefinition
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from tests.support.engine import Harness
from tests.support.settings import make_settings

BWRAP = "code-bwrap/bwrap"


@pytest.fixture
async def rig(database: Database, code_home: Path, wheelhouse: Path) -> AsyncIterator[tuple[Harness, CodeService]]:
    plugins = PluginHost(make_settings(code_home, wheelhouse))
    code = CodeService(database, plugins)
    plugins.register_builtin("code", CodeNodes(code))
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    worker = Worker(engine, concurrency=4, poll_interval=0.1)
    task = asyncio.create_task(worker.run())
    yield Harness(WorkflowService(database, plugins, engine), engine, worker, database), code
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await plugins.close()


def chain(name: str, *nodes: dict[str, Any]) -> dict[str, Any]:
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"name": name, "nodes": list(nodes), "edges": edges}


async def test_a_python_node_reads_templated_inputs_and_feeds_the_next_node(
    rig: tuple[Harness, CodeService],
) -> None:
    harness, _ = rig
    workflow = chain(
        "python-code",
        {
            "id": "total",
            "type": "code/run",
            "config": {"runtime": BWRAP, "code": "print('adding')\nresult = sum(inputs['prices'])"},
            "input": {"prices": "{{ trigger.prices }}"},
        },
        {
            "id": "label",
            "type": "code/run",
            "config": {
                "runtime": BWRAP,
                "language": "javascript",
                "code": "return `total: ${inputs.total}`;",
                "output_schema": {"type": "string"},
            },
            "input": {"total": "{{ nodes.total.output.result }}"},
        },
    )
    view = await harness.wait(await harness.run(workflow, {"prices": [3, 4, 5]}))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    output = view.execution["output"]["label"]
    assert output["result"] == "total: 12"
    assert output["runtime"] == BWRAP
    first = next(step for step in view.steps if step["node_id"] == "total")
    assert first["input"] == {"prices": [3, 4, 5]}


async def test_a_result_that_breaks_the_output_schema_fails_the_step(rig: tuple[Harness, CodeService]) -> None:
    harness, _ = rig
    workflow = chain(
        "schema",
        {
            "id": "count",
            "type": "code/run",
            "config": {"runtime": BWRAP, "code": "result = 'many'", "output_schema": {"type": "integer"}},
        },
    )
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.FAILED
    assert view.execution["error_type"] == "CodeFailed"
    assert "is not of type 'integer'" in view.execution["error_message"]


async def test_an_exception_fails_the_step_naming_the_error_and_line(rig: tuple[Harness, CodeService]) -> None:
    harness, _ = rig
    workflow = chain(
        "raises",
        {"id": "boom", "type": "code/run", "config": {"runtime": BWRAP, "code": "x = 1\nraise ValueError('bad row')"}},
    )
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.FAILED
    assert view.execution["error_message"] == "the code raised ValueError: bad row (line 2)"
    step = next(step for step in view.steps if step["node_id"] == "boom")
    assert step["attempt"] == 1, "a failing snippet is not retried"


async def test_with_fail_on_error_off_the_error_is_the_output(rig: tuple[Harness, CodeService]) -> None:
    harness, _ = rig
    workflow = chain(
        "tolerant",
        {
            "id": "try",
            "type": "code/run",
            "config": {"runtime": BWRAP, "code": "import time\ntime.sleep(5)", "timeout_s": 1, "fail_on_error": False},
        },
    )
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert view.execution["output"]["try"]["limit"] == "timeout"


async def test_a_tool_node_runs_the_latest_tool_version(rig: tuple[Harness, CodeService]) -> None:
    harness, code = rig
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    await code.register_tool(
        None, ToolDefinition(name="square", code="result = inputs['n'] ** 2", input_schema=schema, runtime=BWRAP)
    )
    workflow = chain(
        "tool", {"id": "sq", "type": "code/tool", "config": {"tool": "square"}, "input": {"n": "{{ trigger.n }}"}}
    )
    view = await harness.wait(await harness.run(workflow, {"n": 9}))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert view.execution["output"]["sq"]["result"] == 81


async def test_a_code_node_with_a_bad_output_schema_fails_naming_it(rig: tuple[Harness, CodeService]) -> None:
    harness, _ = rig
    workflow = chain(
        "bad-schema",
        {"id": "x", "type": "code/run", "config": {"code": "result = 1", "output_schema": {"type": 5}}},
    )
    view = await harness.wait(await harness.run(workflow))
    assert view.status == ExecutionStatus.FAILED
    assert view.execution["error_type"] == "ConfigInvalid"
    assert "'output_schema' is not a valid JSON Schema" in view.execution["error_message"]
