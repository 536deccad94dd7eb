"""``synthral mcp expose`` and ``synthral mcp serve``: local workflows as tools on stdio, official mcp client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from synthral.engine.model import Workflow
from synthral.services.app import open_app
from tests.support.settings import make_settings

WORKFLOW = {
    "name": "double",
    "description": "Double a number",
    "triggers": [{"type": "manual", "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}},
                                                     "required": ["n"]}}],
    "nodes": [{"id": "calc", "type": "core/set", "config": {"values": {"unit": "n"}},
               "input": {"data": {"doubled": "{{ trigger.n * 2 }}"}}}],
}  # fmt: skip


def synthral(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNTHRAL_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "synthral", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


async def test_an_exposed_local_workflow_is_served_on_stdio(tmp_path: Path, wheelhouse: Path) -> None:
    home = tmp_path / "home"
    async with open_app(make_settings(home, wheelhouse)) as host:
        await host.workflows.save(Workflow.model_validate(WORKFLOW))
    exposed = synthral(home, "mcp", "expose", "double", "--name", "double_it", "--json")
    assert exposed.returncode == 0, exposed.stderr
    assert orjson.loads(exposed.stdout)["tool"] == "double_it"
    missing = synthral(home, "mcp", "expose", "nope")
    assert missing.returncode != 0 and "nope" in (missing.stdout + missing.stderr)

    params = StdioServerParameters(command=sys.executable, args=["-m", "synthral", "mcp", "serve"],
                                   env={**os.environ, "SYNTHRAL_HOME": str(home)})  # fmt: skip
    async with stdio_client(params) as (read, write), ClientSession(read, write) as mcp:
        await mcp.initialize()
        tools = (await mcp.list_tools()).tools
        result = await mcp.call_tool("double_it", {"n": 21})
        wrong = await mcp.call_tool("double_it", {"n": "x"})

    assert [t.name for t in tools] == ["double_it"] and tools[0].input_schema["required"] == ["n"]
    assert not result.is_error, result.content
    assert result.structured_content["output"]["calc"]["data"] == {"doubled": 42, "unit": "n"}
    assert wrong.is_error and "is not of type 'integer'" in wrong.content[0].text
