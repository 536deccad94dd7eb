"""Everything a host process needs, opened once: database, plugin host, engine, services."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from synthral.config import Settings
from synthral.engine.runtime import Engine
from synthral.plugins.host import PluginHost
from synthral.services.plugins import PluginService
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database

__all__ = ["App", "open_app"]


@dataclass
class App:
    """A host process's shared objects."""

    settings: Settings
    database: Database
    plugins: PluginHost
    engine: Engine
    workflows: WorkflowService
    plugin_service: PluginService


@asynccontextmanager
async def open_app(settings: Settings | None = None) -> AsyncIterator[App]:
    """Open the database (migrating it), the plugin host and the engine; close them after."""
    settings = settings or Settings.from_env()
    database = Database.from_settings(settings)
    await database.migrate()
    plugins = PluginHost(settings)
    lease = float(os.environ.get("WORKFLOW_LEASE_SECONDS", "30"))
    engine = Engine(database, plugins, lease_seconds=lease)
    try:
        yield App(
            settings, database, plugins, engine, WorkflowService(database, plugins, engine), PluginService(plugins)
        )
    finally:
        await plugins.close()
        await database.close()
