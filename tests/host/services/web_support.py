"""A host with the web services over a database, for the web service tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from synthral.engine.runtime import Engine
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing, generate_key
from synthral.security.egress import EgressSettings
from synthral.services.app import App, ai_services, secret_source
from synthral.services.plugins import PluginService
from synthral.services.secrets import CredentialService
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from tests.conftest import make_settings


@contextlib.asynccontextmanager
async def web_app(database: Database, home: Path, wheelhouse: Path) -> AsyncIterator[App]:
    """An App over ``database`` and the plugins installed in ``home``, web services made."""
    settings = make_settings(home, wheelhouse, plugin_call_timeout=120.0)
    # The stand-in sites run on this machine: allowed the way an operator allows an internal site.
    plugins = PluginHost(settings, egress=EgressSettings.from_env({"SYNTHRAL_EGRESS_ALLOW": "127.0.0.1"}))
    credentials = CredentialService(database, KeyRing.single(generate_key()))
    ai = ai_services(database, plugins, settings)
    engine = Engine(database, plugins, lease_seconds=5.0, secrets=secret_source(plugins, credentials), step_services=ai)
    workflows = WorkflowService(database, plugins, engine)
    keyring = KeyRing.single(generate_key())
    app = App(settings, database, plugins, engine, workflows, PluginService(plugins), keyring, credentials, ai)
    app.web_services()
    try:
        yield app
    finally:
        await ai.close()
        await plugins.close()
