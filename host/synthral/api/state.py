"""What the API's routes share: the host's services, opened once per server process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from synthral.api.limits import Limits

if TYPE_CHECKING:
    from synthral.api.routes.mcp import McpEndpoint
    from synthral.services.app import App
    from synthral.services.copilot import CopilotService
    from synthral.services.identity import IdentityService
    from synthral.services.oauth import OAuthService
    from synthral.services.oidc import OidcService
    from synthral.services.secrets import CredentialService
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
        webhooks: Webhook subscriptions and deliveries.
        local: Desktop mode: no sign-in, bound to 127.0.0.1 only.
        public_url: The URL people and providers reach the server at (OAuth redirects).
        limits: Body, nesting and rate limits.
        oidc: Single sign-on with an OpenID provider; None when it is not configured.
        mcp: The MCP endpoint, once the app is created.
        launch_token: Local mode's per-launch token every request must carry (see
            :mod:`synthral.api.local`); None in server mode.
        copilot: The chat copilot, made on its first request.
    """

    app: App
    identity: IdentityService
    credentials: CredentialService
    oauth: OAuthService
    webhooks: WebhookService
    local: bool = False
    public_url: str = "http://127.0.0.1:8000"
    limits: Limits = field(default_factory=Limits)
    oidc: OidcService | None = None
    mcp: McpEndpoint | None = None
    launch_token: str | None = None
    copilot: CopilotService | None = None

    async def connector_secrets(self, workspace_id: str, slug: str, auth_type: str) -> dict[str, str]:
        """The secrets a connector's action call is granted: its workspace credential, fresh."""
        if auth_type == "oauth2":
            return {"access_token": await self.oauth.access_token(workspace_id, slug)}
        if auth_type == "none":
            return {}
        value = await self.credentials.get_value(workspace_id, slug)
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
        return {"api_key": value}


async def server_of(request: Request) -> ServerState:
    """The server state of the app handling ``request`` (async: FastAPI runs plain functions in a thread)."""
    state: ServerState = request.app.state.server
    return state
