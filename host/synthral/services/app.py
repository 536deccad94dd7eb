"""Everything a host process needs, opened once from its settings: database, plugin host, engine, services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from synthral.config import Settings
from synthral.engine.model import ManualTrigger
from synthral.engine.runtime import Engine, EnvSecretResolver, SecretKinds, SecretResolver
from synthral.errors import NotFound
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing
from synthral.security.egress import EgressSettings
from synthral.security.files import private_dir, warn_loose
from synthral.security.tokens import SIGNING_KEY_FILE
from synthral.services.agent_tools import WorkflowRunner
from synthral.services.agents import AgentService
from synthral.services.ai import AIServices
from synthral.services.audit import audited_secrets
from synthral.services.code import CodeService
from synthral.services.llm import LLMService, PriceTable
from synthral.services.obs_forward import ObsForwarder
from synthral.services.ocr import OCRService
from synthral.services.plugins import PluginService
from synthral.services.rag import RAGService
from synthral.services.rag_models import RagSettings
from synthral.services.secret_stores import LOCAL_STORE, configured_secret_resolver, store_credentials
from synthral.services.secrets import CredentialSecretResolver, CredentialService, StepSecretKinds
from synthral.services.step_events import StepEvents
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import WORKSPACE

if TYPE_CHECKING:
    from synthral.services.web import WebServices

__all__ = [
    "STORE_LOGIN_CREDENTIAL",
    "App",
    "ai_services",
    "build_app",
    "egress_settings",
    "open_app",
    "secret_kinds_source",
    "secret_source",
    "warn_loose_home",
    "workflow_runner",
]

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
    ai: AIServices
    code: CodeService | None = None
    rag: RAGService | None = None
    web: WebServices | None = None

    def code_service(self) -> CodeService:
        """Sandboxed code, with the ``code`` nodes registered in the plugin host (made once)."""
        if self.code is None:
            from synthral.builtins.code import CodeNodes  # noqa: PLC0415 -- the nodes import this module's services

            self.code = CodeService(
                self.database,
                self.plugins,
                self.credentials,
                cpu_seconds_per_day=self.settings.limits.code_cpu_seconds_per_day,
            )
            self.plugins.register_builtin("code", CodeNodes(self.code))
        return self.code

    @cached_property
    def ocr(self) -> OCRService:
        """OCR jobs (settings from ``SYNTHRAL_OCR_*``, in ``settings.ocr``)."""
        return OCRService(self.database, self.plugins, self.workflows, self.settings.ocr)

    def rag_service(self) -> RAGService:
        """Retrieval, with the ``rag`` nodes registered in the plugin host (made once)."""
        if self.rag is None:
            from synthral.builtins import rag  # noqa: PLC0415 -- the nodes import this module's services

            self.rag = RAGService(
                self.database,
                self.plugins,
                credentials=self.credentials,
                settings=RagSettings.from_settings(self.settings.rag),
            )
            rag.register(self.plugins, self.rag)
        return self.rag

    def web_services(self) -> WebServices:
        """Scraping, browsers and page watches, with their nodes registered in the plugin host (made once)."""
        if self.web is None:
            from synthral.services.web import open_web  # noqa: PLC0415 -- loads the web stack only when used

            self.web = open_web(self.database, self.plugins, self.credentials, self.workflows)
        return self.web


def secret_source(settings: Settings, plugins: PluginHost, credentials: CredentialService) -> SecretResolver:
    """Where steps' secrets come from: ``SYNTHRAL_SECRET_STORE``'s plugin, else the encrypted credentials.

    Workflows outside any workspace (the local CLI) also read ``SYNTHRAL_SECRET_<NAME>``. Each
    read is recorded in the audit log (the names only).
    """
    from_environment = store_credentials(settings.security)

    async def store_login(workspace_id: str | None) -> dict[str, str]:
        if workspace_id is not None:
            try:
                value = await credentials.get_value(workspace_id, STORE_LOGIN_CREDENTIAL)
            except NotFound:
                pass
            else:
                if isinstance(value, dict):
                    return {str(k): str(v) for k, v in value.items()}
        return await from_environment(workspace_id)

    external = configured_secret_resolver(plugins, store_login, settings.security)
    if external is not None:
        return audited_secrets(external, credentials.database)
    fallback = EnvSecretResolver(settings.security.step_secrets)
    return audited_secrets(CredentialSecretResolver(credentials, fallback=fallback), credentials.database)


def secret_kinds_source(settings: Settings, credentials: CredentialService) -> SecretKinds:
    """What kind each credential :func:`secret_source` hands a step is, for the plugins' ``secrets`` grants.

    With the host's own store, a workspace's credentials keep their stored kinds; with an
    external store (``SYNTHRAL_SECRET_STORE``), and for workflows outside every workspace,
    the kinds come from ``SYNTHRAL_CREDENTIAL_KIND_<NAME>`` (``security.secret_kinds``).
    """
    external = (settings.security.secret_store.strip() or LOCAL_STORE) != LOCAL_STORE
    return StepSecretKinds(settings.security.secret_kinds, None if external else credentials)


def build_app(settings: Settings, database: Database, plugins: PluginHost, keyring: KeyRing) -> App:
    """The services over an open database and plugin host (close ``app.ai`` after)."""
    credentials = CredentialService(database, keyring)
    ai = ai_services(database, plugins, settings)
    engine = Engine(
        database,
        plugins,
        settings=settings.engine,
        secrets=secret_source(settings, plugins, credentials),
        secret_kinds=secret_kinds_source(settings, credentials),
        step_services=ai,
    )
    workflows = WorkflowService(database, plugins, engine)
    ai.agents.workflows = workflow_runner(workflows)
    plugin_service = PluginService(plugins, database)
    app = App(settings, database, plugins, engine, workflows, plugin_service, keyring, credentials, ai)
    app.code_service()
    app.rag_service()
    app.web_services()
    return app


def start_forwarding(settings: Settings, plugins: PluginHost, credentials: CredentialService) -> ObsForwarder | None:
    """Forward events to the obs plugins ``SYNTHRAL_OBS_FORWARD`` names (None when it names none).

    Their keys are read like a step's, but not recorded as a step's reads: from the workspace
    ``SYNTHRAL_OBS_WORKSPACE`` names, else from ``SYNTHRAL_SECRET_<NAME>`` variables.
    """
    if not settings.observability.forward:
        return None
    resolver = CredentialSecretResolver(credentials, fallback=EnvSecretResolver(settings.security.step_secrets))
    forwarder = ObsForwarder(plugins, resolver, settings.observability)
    forwarder.start()
    return forwarder


def ai_services(database: Database, plugins: PluginHost, settings: Settings) -> AIServices:
    """LLM calls, agent tasks and step events over the host's database and plugins."""
    llm = LLMService(database, plugins, PriceTable(settings.home))
    return AIServices(llm, AgentService(database, plugins, llm), StepEvents(database))


def workflow_runner(workflows: WorkflowService) -> WorkflowRunner:
    """How agent tools run workflows: the manual trigger's input schema, a run, its status."""

    async def schema(name: str, workspace_id: str | None) -> dict[str, Any]:
        saved = await workflows.get(name, workspace_id=workspace_id)
        for trigger in saved.workflow.triggers:
            if isinstance(trigger, ManualTrigger) and trigger.input_schema is not None:
                return dict(trigger.input_schema)
        return {"type": "object", "additionalProperties": True}

    async def start(name: str, arguments: dict[str, Any], run_id: str, workspace_id: str | None) -> str:
        return await workflows.start(name, arguments, trigger="agent", execution_id=run_id, workspace_id=workspace_id)

    async def status(run_id: str, workspace_id: str | None) -> tuple[str, Any, str | None]:
        view = await workflows.execution(run_id, workspace_id=workspace_id)
        return view.status, view.execution.get("output"), view.execution.get("error_message")

    return WorkflowRunner(schema, start, status)


def warn_loose_home(settings: Settings, database: Database) -> None:
    """Warn (in the log) about the home, database, key files and blob store when others may read them."""
    files = [settings.security.secret_key_file or settings.home / "secret.key"]
    files.append(settings.home / SIGNING_KEY_FILE)
    if database.sqlite_path is not None:
        files += [database.sqlite_path.with_name(database.sqlite_path.name + suffix) for suffix in ("", "-wal", "-shm")]
    warn_loose([settings.home, settings.blobs_dir], files)


async def egress_settings(settings: Settings, database: Database, *, local: bool) -> EgressSettings:
    """The network policy's settings, per-workspace lists keyed by workspace id."""
    egress = EgressSettings.from_settings(settings.security, local=local)
    if not egress.by_variable:
        return egress
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(WORKSPACE.c.id, WORKSPACE.c.slug))
        return egress.resolved((str(row.id), str(row.slug)) for row in rows)


@asynccontextmanager
async def open_app(settings: Settings, *, local: bool = False) -> AsyncIterator[App]:
    """Open the database (migrating it), the plugin host and the engine; close them after.

    ``local``: the process serves the machine's own user (``serve --local``, the desktop, the
    CLI's ``run``): plugins may reach loopback addresses.
    """
    private_dir(settings.home)
    keyring = KeyRing.configured(settings.home, settings.security)
    database = Database.from_settings(settings)
    try:
        warn_loose_home(settings, database)
        await database.migrate()
        plugins = PluginHost(settings, egress=await egress_settings(settings, database, local=local))
        try:
            app = build_app(settings, database, plugins, keyring)
            forwarder = start_forwarding(settings, plugins, app.credentials)
            try:
                yield app
            finally:
                await app.ai.close()
                if forwarder is not None:
                    await forwarder.close()
        finally:
            await plugins.close()
    finally:
        await database.close()
