"""A home with version 1 of the upgrady fixture, history recorded by real runs, for upgrade tests."""

from __future__ import annotations

import asyncio
import contextlib
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
from synthral.services.plugin_pins import PluginUpgrades
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from tests.support.engine import chain, wait_for_status
from tests.support.settings import GRANT_ALL, make_settings

__all__ = ["TOKEN", "UpgradeEnv", "everything", "greeter", "upgrade_env"]

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
