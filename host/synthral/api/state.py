"""What the API's routes share: the host's services, opened once per server process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from synthral.config import LimitSettings

if TYPE_CHECKING:
    from synthral.api.routes.mcp import McpEndpoint
    from synthral.services.analytics import CostAnalytics
    from synthral.services.app import App
    from synthral.services.audit import AuditLog
    from synthral.services.connectors import ConnectorService
    from synthral.services.copilot import CopilotService
    from synthral.services.events import EventHub
    from synthral.services.identity import IdentityService
    from synthral.services.oauth import OAuthService
    from synthral.services.oidc import OidcService
    from synthral.services.secrets import CredentialService
    from synthral.services.telemetry import TelemetryService
    from synthral.services.webhooks import WebhookService

__all__ = ["ServerState", "server_of"]


@dataclass
class ServerState:
    """The services behind the routes.

    Attributes:
        app: Database, plugin host, engine, workflow and plugin services.
        identity: Users, workspaces, tokens, API keys.
        credentials: The workspace's encrypted credentials.
        oauth: OAuth flows of connectors.
        connectors: Connectors by slug (one rule), their actions' secrets and calls.
        events: The one loop that reads live execution events for every WebSocket.
        webhooks: Webhook subscriptions and deliveries.
        copilot: The chat copilot (conversations and their AG-UI runs).
        audit: The hash-chained audit log.
        costs: Cost analytics over LLM calls, code runs and OCR pages.
        telemetry: What a metrics scrape reads (and who may scrape).
        local: Desktop mode: no sign-in, bound to 127.0.0.1 only.
        public_url: The URL people and providers reach the server at (OAuth redirects).
        limits: Body, nesting and rate limits.
        oidc: Single sign-on with an OpenID provider; None when it is not configured.
        mcp: The MCP endpoint, once the app is created.
        launch_token: Local mode's per-launch token every request must carry (see
            :mod:`synthral.api.local`); None in server mode.
    """

    app: App
    identity: IdentityService
    credentials: CredentialService
    oauth: OAuthService
    connectors: ConnectorService
    events: EventHub
    webhooks: WebhookService
    copilot: CopilotService
    audit: AuditLog
    costs: CostAnalytics
    telemetry: TelemetryService
    local: bool = False
    public_url: str = "http://127.0.0.1:8000"
    limits: LimitSettings = field(default_factory=LimitSettings)
    oidc: OidcService | None = None
    mcp: McpEndpoint | None = None
    launch_token: str | None = None


async def server_of(request: Request) -> ServerState:
    """The server state of the app handling ``request`` (async: FastAPI runs plain functions in a thread)."""
    state: ServerState = request.app.state.server
    return state
