"""The FastAPI application: routes under ``/api/v1``, the gate in front, problems for errors."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from synthral.api.chat_cors import ChatCors
from synthral.api.docs import install_docs
from synthral.api.gate import Gate
from synthral.api.ingress import Ingress
from synthral.api.local import LocalGuard, new_launch_token
from synthral.api.problems import PROBLEM_RESPONSES, install_problem_handlers
from synthral.api.routes import (
    admin,
    agents,
    analytics,
    audit,
    auth,
    blobs,
    browser,
    chat,
    chat_bridge,
    code,
    connector_kit,
    connectors,
    credentials,
    events,
    executions,
    hooks,
    mcp,
    members,
    nodes,
    ocr,
    oidc,
    osint,
    plugin_upgrades,
    plugins,
    rag,
    schedules,
    scraping,
    steps,
    workflows,
)
from synthral.api.routes import metrics as metrics_route
from synthral.api.state import ServerState
from synthral.api.web import install_web, web_root
from synthral.errors import ConfigurationError
from synthral.security.passwords import Passwords
from synthral.security.tokens import load_signing_key
from synthral.services.analytics import CostAnalytics
from synthral.services.app import App
from synthral.services.audit import AuditLog
from synthral.services.connectors import ConnectorCatalog, ConnectorService
from synthral.services.copilot import Catalog, CopilotService, Record, Services
from synthral.services.copilot.settings import server_default
from synthral.services.events import EventHub
from synthral.services.identity import IdentityService
from synthral.services.oauth import OAuthService
from synthral.services.oidc import OidcService, OidcSettings
from synthral.services.telemetry import TelemetryService
from synthral.services.webhooks import WebhookService

__all__ = ["API_PREFIX", "assemble", "close_server", "create_app"]

API_PREFIX = "/api/v1"


def create_app(server: ServerState, *, extra: Sequence[APIRouter] = ()) -> FastAPI:
    """The API over ``server``'s services (and ``extra`` routers under ``/api/v1``, e.g. the desktop's)."""
    app = FastAPI(
        title="SynthralOS",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served by install_docs, from packaged assets
        redoc_url=None,
    )
    app.state.server = server
    install_problem_handlers(app)
    install_docs(app, API_PREFIX)
    modules = (
        auth,
        oidc,
        workflows,
        executions,
        plugins,
        plugin_upgrades,
        connector_kit,
        connectors,
        credentials,
        hooks,
        events,
        code,
        agents,
        mcp,
        blobs,
        ocr,
        rag,
        chat,
        scraping,
        browser,
    )
    for module in modules:
        app.include_router(module.router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    for module in (schedules, members, admin, steps, nodes):
        app.include_router(module.router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    for module in (audit, analytics, osint):
        app.include_router(module.router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    app.include_router(metrics_route.router, include_in_schema=False)
    for router in extra:
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)

    @app.get(f"{API_PREFIX}/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    app.include_router(chat_bridge.bridge)  # /api/agws: the copilot's WebSocket bridge, outside /api/v1
    server.mcp = mcp.mount_mcp(app, server, API_PREFIX)
    install_web(
        app, web_root(server.app.settings.server.web_root)
    )  # last: its catch-all answers only what no API route did
    local = server.identity.local_principal if server.local else None
    app.add_middleware(Ingress, server=server)  # behind the gate: the last added runs first
    app.add_middleware(Gate, authenticate=server.identity.authenticate, local=local, limits=server.limits)
    app.add_middleware(ChatCors, origins=server.app.settings.copilot.embed_origins)  # answers preflights, no auth
    if server.local:
        if not server.launch_token:
            raise ConfigurationError("local mode needs a launch token; assemble the server with local=True")
        app.add_middleware(LocalGuard, token=server.launch_token)  # outermost: before limits and routes
    return app


def assemble(
    host: App,
    *,
    local: bool = False,
    public_url: str | None = None,
    passwords: Passwords | None = None,
    idle_ceiling: float | None = None,
) -> ServerState:
    """The server's services over an open host, as its settings configure them.

    Args:
        host: The open host (database, plugins, engine, services).
        local: Desktop mode: no sign-in, loopback only.
        public_url: The URL people and providers reach the server at; ``SYNTHRAL_PUBLIC_URL``
            (``settings.server.public_url``) when None, else ``http://HOST:PORT``.
        passwords: The argon2id cost (the default when None; tests pass a cheap one).
        idle_ceiling: For a host that alone writes its database: the live-event loop's pause
            while no watched run is live (runs of this process wake it; see
            :mod:`synthral.engine.idle`). None keeps the hub's own one-second look.

    Raises:
        ConfigurationError: The ``SYNTHRAL_OIDC_*`` variables configure single sign-on in part
            or wrongly, or ``SYNTHRAL_COPILOT_LLM`` is not an LLM choice.
    """
    settings = host.settings
    url = public_url or settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
    identity = IdentityService(
        host.database,
        signing_key=load_signing_key(settings.home, settings.security.jwt_secret),
        keyring=host.keyring,
        passwords=passwords,
    )
    oidc_settings = OidcSettings.configured(settings.server)
    oidc = None
    if oidc_settings is not None:
        oidc = OidcService(identity, host.database, host.keyring, oidc_settings, public_url=url)
    host.code_service()
    catalog = ConnectorCatalog(host.plugins)
    oauth = OAuthService(host.database, host.credentials, host.keyring, catalog.auth_spec, public_url=url)
    webhooks = WebhookService(host.workflows, host.credentials, catalog)
    events = EventHub(host.database, outage=host.engine.outage)
    if idle_ceiling is not None:
        events.idle_interval = idle_ceiling
    host.engine.listeners.append(events.wake)  # a run started here is shown at once
    host.engine.record_listeners.append(events.soon)  # and what its steps record, soon after
    copilot = CopilotService(
        Services(
            database=host.database,
            plugins=host.plugins,
            workflows=host.workflows,
            llm=host.ai.llm,
            agents=host.ai.agents,
            code=host.code_service,
            secrets=host.engine.secrets,
            credentials=host.credentials,
            webhooks=webhooks,
            events=events,
            public_url=url.rstrip("/"),
            record=Record(host.database),
            catalog=Catalog(host.plugins, host.workflows),
        ),
        server_default(settings.copilot),
    )
    return ServerState(
        app=host,
        identity=identity,
        credentials=host.credentials,
        oauth=oauth,
        connectors=ConnectorService(catalog, host.credentials, oauth, host.plugin_service),
        webhooks=webhooks,
        copilot=copilot,
        audit=AuditLog(host.database),
        costs=CostAnalytics(host.database),
        telemetry=TelemetryService(host.database, host.plugins, settings.observability),
        events=events,
        local=local,
        public_url=url.rstrip("/"),
        limits=settings.limits,
        oidc=oidc,
        launch_token=new_launch_token() if local else None,
    )


async def close_server(state: ServerState) -> None:
    """Close what :func:`assemble` and :func:`create_app` opened: the event loop, copilot turns, OAuth, MCP, OIDC."""
    await state.events.close()
    await state.copilot.close()
    await state.oauth.close()
    if state.mcp is not None:
        await state.mcp.close()
    if state.oidc is not None:
        await state.oidc.close()
