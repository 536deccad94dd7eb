"""Sandboxed code through the service: runs recorded, quotas charged, tools versioned, sandboxes named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from synthral.errors import InputInvalid, NotFound, QuotaExceeded, UnknownCapability
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing, generate_key
from synthral.services.code import CodeRun, CodeService, SandboxDefinition, ToolDefinition
from synthral.services.identity import IdentityService
from synthral.services.secrets import CredentialService
from synthral.store.code_tables import CODE_EXECUTION
from synthral.store.db import Database
from tests.support.settings import make_settings

BWRAP = "code-bwrap/bwrap"


@pytest.fixture
async def code(database: Database, code_home: Path, wheelhouse: Path) -> AsyncIterator[CodeService]:
    plugins = PluginHost(make_settings(code_home, wheelhouse))
    credentials = CredentialService(database, KeyRing.single(generate_key()))
    yield CodeService(database, plugins, credentials, cpu_seconds_per_day=600)
    await plugins.close()


async def _workspace(database: Database, slug: str) -> str:
    identity = IdentityService(database, signing_key=b"k" * 32, keyring=KeyRing.single(generate_key()))
    owner = await identity.create_user(f"{slug}@example.com", "a long enough password")
    return (await identity.create_workspace(slug, slug.title(), owner_id=owner.id)).id


async def test_a_run_is_recorded_with_its_output_and_cpu_seconds(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    outcome = await code.execute(
        CodeRun(code="print('hi')\nresult = sum(inputs['n'])", inputs={"n": [1, 2, 3]}, runtime=BWRAP),
        workspace_id=workspace,
    )
    assert outcome.result.ok
    assert outcome.result.result == 6
    record = await code.record(workspace, outcome.execution_id)
    assert record["status"] == "completed"
    assert record["stdout"] == "hi\n"
    assert record["runtime"] == BWRAP
    assert record["cpu_s"] > 0
    assert record["finished_at"] is not None


async def test_failing_code_is_recorded_with_its_error(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    outcome = await code.execute(CodeRun(code="raise KeyError('missing')", runtime=BWRAP), workspace_id=workspace)
    assert outcome.result.error is not None
    record = await code.record(workspace, outcome.execution_id)
    assert record["status"] == "failed"
    assert record["error_type"] == "KeyError"


async def test_a_runtime_refusal_is_recorded_and_raised(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    with pytest.raises(InputInvalid, match="cobol"):
        await code.execute(CodeRun(language="cobol", code="x", runtime=BWRAP), workspace_id=workspace)
    async with database.engine.connect() as connection:
        statuses = (await connection.execute(select(CODE_EXECUTION.c.status, CODE_EXECUTION.c.error_type))).all()
    assert [tuple(row) for row in statuses] == [("error", "InputInvalid")]


async def test_the_daily_cpu_budget_is_charged_and_then_refuses(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    await code.set_quota(workspace, 0.5)
    burn = CodeRun(code="while True:\n    pass", runtime=BWRAP, timeout_s=20)
    first = await code.execute(burn, workspace_id=workspace)
    assert first.result.limit == "cpu", "the run is cut at what is left of the budget"
    usage = await code.usage(workspace)
    assert usage.used >= 0.5
    with pytest.raises(QuotaExceeded, match="PUT /api/v1/code/quota") as refused:
        await code.execute(CodeRun(code="print(1)", runtime=BWRAP), workspace_id=workspace)
    assert refused.value.retryable is False
    assert refused.value.details["retry_after"] > 0
    other = await _workspace(database, "globex")
    assert (await code.execute(CodeRun(code="result = 1", runtime=BWRAP), workspace_id=other)).result.ok


async def test_a_negative_quota_is_refused(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    with pytest.raises(InputInvalid, match="0 or more"):
        await code.set_quota(workspace, -1)


async def test_tools_get_versions_and_are_listed_by_their_latest(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    first = await code.register_tool(
        workspace, ToolDefinition(name="double", code="result = inputs['x'] * 2", input_schema=schema)
    )
    second = await code.register_tool(
        workspace,
        ToolDefinition(name="double", code="result = inputs['x'] + inputs['x']", input_schema=schema, runtime=BWRAP),
    )
    await code.register_tool(workspace, ToolDefinition(name="answer", code="result = 42", runtime=BWRAP))
    assert (first.version, second.version) == (1, 2)
    latest = await code.tools(workspace)
    assert [(tool.name, tool.version) for tool in latest] == [("answer", 1), ("double", 2)]
    assert [tool.version for tool in await code.tools(workspace, "double")] == [2, 1]
    assert [spec.name for spec in code.tool_specs(latest)] == ["answer", "double"]
    outcome = await code.run_tool(workspace, "double", {"x": 21})
    assert outcome.result.result == 42
    with pytest.raises(InputInvalid, match=r"input of tool double v2 at \(root\): 'x' is a required property"):
        await code.run_tool(workspace, "double", {})
    with pytest.raises(NotFound, match="no tool double version 7"):
        await code.run_tool(workspace, "double", {"x": 1}, version=7)
    assert await code.tools(await _workspace(database, "globex")) == []


async def test_a_tool_whose_result_breaks_its_output_schema_fails_saying_where(
    code: CodeService, database: Database
) -> None:
    workspace = await _workspace(database, "acme")
    await code.register_tool(
        workspace,
        ToolDefinition(
            name="count",
            code="result = {'count': 'three'}",
            output_schema={"type": "object", "properties": {"count": {"type": "integer"}}},
            runtime=BWRAP,
        ),
    )
    outcome = await code.run_tool(workspace, "count", {})
    assert not outcome.result.ok
    assert outcome.result.error is not None
    assert outcome.result.error.type == "OutputInvalid"
    assert "at count" in outcome.result.error.message


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"name": "Bad Name", "code": "x"}, "lowercase letters"),
        (
            {"name": "ok", "code": "x", "input_schema": {"type": "nonsense"}},
            "'input_schema' is not a valid JSON Schema",
        ),
        ({"name": "ok", "code": "x", "input_schema": {"type": "array"}}, "must describe an object"),
    ],
)
async def test_bad_tool_definitions_are_refused(
    code: CodeService, database: Database, definition: dict[str, object], message: str
) -> None:
    with pytest.raises(InputInvalid, match=message):
        await code.register_tool(None, ToolDefinition.model_validate(definition))


async def test_a_named_sandbox_gives_its_runtime_and_limits(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    await code.put_sandbox(workspace, "tight", SandboxDefinition(runtime=BWRAP, memory_mb=64, timeout_s=1))
    outcome = await code.execute(CodeRun(code="import time\ntime.sleep(5)", sandbox="tight"), workspace_id=workspace)
    assert outcome.runtime == BWRAP
    assert outcome.result.limit == "timeout"
    assert [name for name, _ in await code.sandboxes(workspace)] == ["tight"]
    await code.put_sandbox(workspace, "tight", SandboxDefinition(runtime=BWRAP, timeout_s=30))
    ((_, replaced),) = await code.sandboxes(workspace)
    assert replaced.timeout_s == 30
    assert replaced.memory_mb is None


async def test_unknown_sandboxes_and_runtimes_are_refused(code: CodeService, database: Database) -> None:
    workspace = await _workspace(database, "acme")
    with pytest.raises(NotFound, match="PUT /api/v1/code/sandboxes/nope"):
        await code.execute(CodeRun(code="print(1)", sandbox="nope"), workspace_id=workspace)
    with pytest.raises(UnknownCapability):
        await code.put_sandbox(workspace, "odd", SandboxDefinition(runtime="code-bwrap/nothing"))
