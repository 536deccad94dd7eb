"""The FastAPI application: routes under ``/api/v1``, the gate in front, problems for errors."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from synthral.api.docs import install_docs
from synthral.api.gate import Gate
from synthral.api.ingress import Ingress
from synthral.api.limits import Limits
from synthral.api.local import LocalGuard, new_launch_token
from synthral.api.problems import PROBLEM_RESPONSES, install_problem_handlers
from synthral.api.routes import (
    admin,
    agents,
    analytics,
    audit,
    auth,
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
    ocr,
    oidc,
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
from synthral.config import Settings
from synthral.errors import ConfigurationError
from synthral.security.passwords import Passwords
from synthral.services.app import App, open_app
from synthral.services.identity import IdentityService
from synthral.services.oauth import OAuthService
from synthral.services.oidc import OidcService, OidcSettings
from synthral.services.webhooks import WebhookService

__all__ = ["API_PREFIX", "assemble", "create_app", "open_server"]

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
        connector_kit,
        connectors,
        credentials,
        hooks,
        events,
        code,
        agents,
        mcp,
        ocr,
        rag,
        chat,
        scraping,
        browser,
    )
    for module in modules:
        app.include_router(module.router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    for module in (schedules, members, admin, steps):
        app.include_router(module.router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    for module in (audit, analytics):
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
    install_web(app, web_root())  # last: its catch-all answers only what no API route did
    local = server.identity.local_principal if server.local else None
    app.add_middleware(Ingress, server=server)  # behind the gate: the last added runs first
    app.add_middleware(Gate, authenticate=server.identity.authenticate, local=local, limits=server.limits)
    if server.local:
        if not server.launch_token:
            raise ConfigurationError("local mode needs a launch token; assemble the server with local=True")
        app.add_middleware(LocalGuard, token=server.launch_token)  # outermost: before limits and routes
    return app


def assemble(
    host: App,
    *,
    local: bool = False,
    public_url: str,
    limits: Limits | None = None,
    passwords: Passwords | None = None,
) -> ServerState:
    """The server's services over an open host (``passwords``: the argon2id cost, default if None).

    Raises:
        ConfigurationError: The ``SYNTHRAL_OIDC_*`` variables configure single sign-on in part
            or wrongly.
    """
    identity = IdentityService(
        host.database,
        signing_key=IdentityService.signing_key_from_env(host.settings.home),
        keyring=host.keyring,
        passwords=passwords,
    )
    oidc_settings = OidcSettings.from_env()
    oidc = None
    if oidc_settings is not None:
        oidc = OidcService(identity, host.database, host.keyring, oidc_settings, public_url=public_url)
    host.code_service()
    host.rag_service()
    host.web_services()
    return ServerState(
        app=host,
        identity=identity,
        credentials=host.credentials,
        oauth=OAuthService(host.database, host.credentials, host.keyring, host.plugins, public_url=public_url),
        webhooks=WebhookService(host.workflows, host.credentials, host.plugins),
        local=local,
        public_url=public_url.rstrip("/"),
        limits=limits or Limits.from_env(),
        oidc=oidc,
        launch_token=new_launch_token() if local else None,
    )


@asynccontextmanager
async def open_server(
    settings: Settings | None = None,
    *,
    local: bool = False,
    public_url: str | None = None,
    limits: Limits | None = None,
) -> AsyncIterator[ServerState]:
    """Open the host (database, plugins, engine) with the server's services; close them after."""
    settings = settings or Settings.from_env()
    url = public_url or os.environ.get("SYNTHRAL_PUBLIC_URL") or "http://127.0.0.1:8000"
    async with open_app(settings, local=local) as host:
        state = assemble(host, local=local, public_url=url, limits=limits)
        try:
            yield state
        finally:
            await state.oauth.close()
            if state.copilot is not None:
                await state.copilot.close()
            if state.mcp is not None:
                await state.mcp.close()
            if state.oidc is not None:
                await state.oidc.close()
