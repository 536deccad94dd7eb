"""A home with version 1 of the upgrady fixture, history recorded by real runs, for upgrade tests."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from synthral.config import EngineSettings, Settings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine, EnvSecretResolver
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.ai import AIServices
from synthral.services.app import ai_services, workflow_runner
from synthral.services.plugin_pins import PluginUpgrades
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from tests.support.engine import chain, wait_for_status
from tests.support.settings import GRANT_ALL, REPO, make_settings

__all__ = [
    "TOKEN",
    "AgentUpgradeEnv",
    "UpgradeEnv",
    "agent_loops_copy",
    "agent_upgrade_env",
    "everything",
    "greeter",
    "upgrade_env",
]

TOKEN = "tok-upgrade-s3cret"
"""The secret granted to the 'secret' node: it must never appear in a report."""


def everything(name: str = "everything") -> dict[str, Any]:
    """A workflow using every capability of upgrady 1.0.0, the token granted to the secret node."""
    return chain(
        name,
        {"id": "greet", "type": "upgrady/greet", "input": {"name": "{{ trigger.name }}"}},
        {"id": "divide", "type": "upgrady/divide", "input": {"a": "{{ trigger.a }}", "b": 4}},
        {"id": "shout", "type": "upgrady/shout", "input": {"text": "{{ trigger.name }}"}},
        {"id": "count", "type": "upgrady/count", "input": {"n": 3}},
        {"id": "secret", "type": "upgrady/secret", "secrets": ["token"]},
    )


def greeter(name: str = "greeter") -> dict[str, Any]:
    """A workflow using only upgrady/greet."""
    return chain(name, {"id": "greet", "type": "upgrady/greet", "input": {"name": "{{ trigger.name }}"}})


@dataclass
class UpgradeEnv:
    """What upgrade tests drive."""

    settings: Settings
    database: Database
    plugins: PluginHost
    workflows: WorkflowService
    upgrades: PluginUpgrades
    v2: Path

    async def run(self, workflow: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run a saved workflow to its end; its output by node."""
        execution_id = await self.workflows.start(workflow, payload)
        view = await wait_for_status(self.workflows, execution_id)
        assert view.status == ExecutionStatus.COMPLETED, view.execution
        return dict(view.execution["output"] or {})

    async def pinned(self, workflow: str) -> tuple[int, str | None]:
        """(latest version, the upgrady version it pins)."""
        versions = await self.workflows.versions(workflow)
        latest = max(versions, key=lambda v: int(v["version"]))
        return int(latest["version"]), dict(latest.get("plugin_versions") or {}).get("upgrady")


@contextlib.asynccontextmanager
async def upgrade_env(
    database: Database, home: Path, wheelhouse: Path, wheels: dict[str, Path], *, history: bool = True
) -> AsyncIterator[UpgradeEnv]:
    """upgrady 1.0.0 installed in ``home``; with ``history``, two runs of 'everything' and one of 'greeter'.

    Version 2.0.0's wheel folder is a find-links source, as a package index would be.
    """
    settings = make_settings(home, wheelhouse, find_links=[wheels["upgrady-2"].parent])
    plugins = PluginHost(settings)
    await plugins.install(str(wheels["upgrady"]), grant=GRANT_ALL)
    secrets = EnvSecretResolver({"token": SecretStr(TOKEN)})
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0), secrets=secrets)
    worker = Worker(engine, concurrency=4, poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    workflows = WorkflowService(database, plugins, engine)
    env = UpgradeEnv(
        settings, database, plugins, workflows, PluginUpgrades(plugins, database, secrets), wheels["upgrady-2"]
    )
    try:
        await workflows.save(Workflow.model_validate(everything()))
        await workflows.save(Workflow.model_validate(greeter()))
        await workflows.save(Workflow.model_validate(chain("unrelated", {"id": "a", "type": "core/set"})))
        if history:
            await env.run("everything", {"name": "Ada", "a": 10})
            await env.run("everything", {"name": "Grace", "a": 2})
            await env.run("greeter", {"name": "Linus"})
        yield env
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await plugins.close()


def agent_loops_copy(target: Path, version: str, *, replace: tuple[str, str] | None = None) -> Path:
    """The agent-loops plugin's folder copied to ``target`` as ``version``, ``replace`` applied to its loops."""
    shutil.copytree(
        REPO / "plugins" / "agent-loops",
        target,
        ignore=shutil.ignore_patterns("__pycache__", ".venv", ".pytest_cache", "tests", "*.egg-info"),
    )
    pyproject = target / "pyproject.toml"
    text = pyproject.read_text().replace('version = "0.1.0"', f'version = "{version}"')
    pyproject.write_text(text.split("[tool.uv.sources]")[0])  # the SDK comes from the wheelhouse, not ../../sdk
    if replace is not None:
        loops = target / "synthral_agent_loops" / "loops.py"
        old, new = replace
        assert old in loops.read_text()
        loops.write_text(loops.read_text().replace(old, new))
    return target


@dataclass
class AgentUpgradeEnv:
    """A home running agent tasks on agent-loops 0.1.0, and the upgrade checks over it."""

    plugins: PluginHost
    ai: AIServices
    workflows: WorkflowService
    upgrades: PluginUpgrades

    async def run(self, workflow: dict[str, Any], payload: dict[str, Any]) -> str:
        """Save and run ``workflow`` to its successful end; its execution id."""
        saved = await self.workflows.save(Workflow.model_validate(workflow))
        execution_id = await self.workflows.start(saved.workflow_id, payload)
        view = await wait_for_status(self.workflows, execution_id)
        assert view.status == ExecutionStatus.COMPLETED, view.execution
        await self.ai.flush()
        return execution_id


@contextlib.asynccontextmanager
async def agent_upgrade_env(
    database: Database, home: Path, wheelhouse: Path, wheels: dict[str, Path]
) -> AsyncIterator[AgentUpgradeEnv]:
    """llm-openai-compatible, agent-loops 0.1.0 and the noop fixture (for tools) installed in ``home``."""
    plugins = PluginHost(make_settings(home, wheelhouse))
    for name in ("llm-openai-compatible", "agent-loops"):
        await plugins.install(str(REPO / "plugins" / name), grant=GRANT_ALL)
    await plugins.install(str(wheels["noop"]), grant=GRANT_ALL)
    ai = ai_services(database, plugins, plugins.settings)
    secrets = EnvSecretResolver({})
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0), secrets=secrets, step_services=ai)
    workflows = WorkflowService(database, plugins, engine)
    ai.agents.workflows = workflow_runner(workflows)
    worker = Worker(engine, concurrency=4, poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    try:
        yield AgentUpgradeEnv(plugins, ai, workflows, PluginUpgrades(plugins, database, secrets))
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await ai.close()
        await plugins.close()
