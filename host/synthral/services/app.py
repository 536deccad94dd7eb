"""Everything a host process needs, opened once: database, plugin host, engine, services."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property

from synthral.config import Settings
from synthral.engine.runtime import Engine, EnvSecretResolver, SecretResolver
from synthral.errors import NotFound
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing
from synthral.services.code import CodeService
from synthral.services.ocr import OCRService, OCRSettings
from synthral.services.plugins import PluginService
from synthral.services.secret_stores import credentials_from_env, secret_resolver_from_env
from synthral.services.secrets import CredentialSecretResolver, CredentialService
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database

__all__ = ["STORE_LOGIN_CREDENTIAL", "App", "open_app", "secret_source"]

STORE_LOGIN_CREDENTIAL = "secret-store"
"""The workspace credential holding an external secret store's login fields (e.g. client_id, client_secret)."""


@dataclass
class App:
    """A host process's shared objects."""

    settings: Settings
    database: Database
    plugins: PluginHost
    engine: Engine
    workflows: WorkflowService
    plugin_service: PluginService
    keyring: KeyRing
    credentials: CredentialService
    code: CodeService | None = None

    def code_service(self) -> CodeService:
        """Sandboxed code, with the ``code`` nodes registered in the plugin host (made once)."""
        if self.code is None:
            from synthral.builtins.code import CodeNodes  # noqa: PLC0415 -- the nodes import this module's services

            self.code = CodeService(self.database, self.plugins, self.credentials)
            self.plugins.register_builtin("code", CodeNodes(self.code))
        return self.code

    @cached_property
    def ocr(self) -> OCRService:
        """OCR jobs (settings from ``SYNTHRAL_OCR_*``)."""
        return OCRService(self.database, self.plugins, self.workflows, OCRSettings.from_env())


def secret_source(plugins: PluginHost, credentials: CredentialService) -> SecretResolver:
    """Where steps' secrets come from: ``SYNTHRAL_SECRET_STORE``'s plugin, else the encrypted credentials.

    Workflows outside any workspace (the local CLI) also read ``SYNTHRAL_SECRET_<NAME>``.
    """

    async def store_login(workspace_id: str | None) -> dict[str, str]:
        if workspace_id is not None:
            try:
                value = await credentials.get_value(workspace_id, STORE_LOGIN_CREDENTIAL)
            except NotFound:
                pass
            else:
                if isinstance(value, dict):
                    return {str(k): str(v) for k, v in value.items()}
        return await credentials_from_env(workspace_id)

    external = secret_resolver_from_env(plugins, store_login)
    if external is not None:
        return external
    return CredentialSecretResolver(credentials, fallback=EnvSecretResolver())


@asynccontextmanager
async def open_app(settings: Settings | None = None) -> AsyncIterator[App]:
    """Open the database (migrating it), the plugin host and the engine; close them after."""
    settings = settings or Settings.from_env()
    keyring = KeyRing.from_env(settings.home)
    database = Database.from_settings(settings)
    await database.migrate()
    plugins = PluginHost(settings)
    credentials = CredentialService(database, keyring)
    lease = float(os.environ.get("WORKFLOW_LEASE_SECONDS", "30"))
    try:
        engine = Engine(database, plugins, lease_seconds=lease, secrets=secret_source(plugins, credentials))
        app = App(
            settings,
            database,
            plugins,
            engine,
            WorkflowService(database, plugins, engine),
            PluginService(plugins),
            keyring,
            credentials,
        )
        app.code_service()
        yield app
    finally:
        await plugins.close()
        await database.close()
