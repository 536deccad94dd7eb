"""A host with the web services over a database, for the web service tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing, generate_key
from synthral.security.egress import EgressSettings
from synthral.services.app import App, build_app
from synthral.store.db import Database
from tests.support.settings import make_settings


@contextlib.asynccontextmanager
async def web_app(database: Database, home: Path, wheelhouse: Path) -> AsyncIterator[App]:
    """An App over ``database`` and the plugins installed in ``home``, web services made (by ``build_app``)."""
    settings = make_settings(home, wheelhouse, call_timeout=120.0).replace(engine={"lease_seconds": 5.0})
    # The test sites run on this machine: allow loopback as an operator would (SYNTHRAL_EGRESS_ALLOW).
    plugins = PluginHost(settings, egress=EgressSettings.from_env({"SYNTHRAL_EGRESS_ALLOW": "127.0.0.1"}))
    app = build_app(settings, database, plugins, KeyRing.single(generate_key()))
    try:
        yield app
    finally:
        await app.ai.close()
        await plugins.close()
