"""Connectors: register (a plugin install), list, OAuth authorize and callback, invoke an action, rotate.

A connector's slug is its capability name (``github``); which plugin version answers is
decided by :mod:`synthral.services.connectors` (one rule for every route).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from pydantic import BaseModel, Field

from synthral.api.access import Editor, Owner, Viewer
from synthral.api.auditing import audit
from synthral.api.pagination import Page
from synthral.api.routes.plugins import GrantField, install_source
from synthral.api.state import ServerState, server_of
from synthral.errors import ConfigurationError
from synthral.services.connectors import Connector
from synthral.services.secrets import CredentialView
from synthral.services.webhooks import Delivery

__all__ = ["WORKFLOW_ID_MAX", "router"]

router = APIRouter(prefix="/connectors", tags=["connectors"])
Server = Annotated[ServerState, Depends(server_of)]
Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
WORKFLOW_ID_MAX = 64


class ConnectorInfo(BaseModel):
    """A connector's manifest: how to authorise it and what it can do."""

    slug: str
    plugin: str
    version: str = Field(description="The version that answers: the newest enabled one.")
    versions: list[str] = Field(description="Every enabled version, newest first.")
    title: str = ""
    description: str = ""
    auth_type: str
    scopes: list[str]
    authorize_url: str | None = None
    logo: str = ""
    actions: list[str]
    webhook: dict[str, Any] | None = None


class OAuthClient(BaseModel):
    """The OAuth client registered at the provider for this workspace."""

    model_config = {"extra": "forbid"}

    client_id: str = Field(min_length=1, max_length=500)
    client_secret: str | None = Field(default=None, max_length=2000)
    authorize_url: str | None = Field(default=None, max_length=2000, description="For self-hosted providers.")
    token_url: str | None = Field(default=None, max_length=2000, description="For self-hosted providers.")


class AuthorizationStarted(BaseModel):
    """Send the user's browser here."""

    authorization_url: str
    redirect_uri: str


class Connected(BaseModel):
    """The connector's credential after the OAuth callback (never the tokens)."""

    connector: str
    credential: str
    kind: str
    meta: dict[str, Any]


class Rotation(BaseModel):
    """New credential values (API key connectors); OAuth connectors refresh their tokens instead."""

    model_config = {"extra": "forbid"}

    values: dict[str, str] | None = Field(default=None, description="The new field values, e.g. {'api_key': ...}.")


class DeliveryAccepted(BaseModel):
    """The delivery is stored; its run starts soon."""

    execution_id: str
    duplicate: bool


def _info(connector: Connector) -> ConnectorInfo:
    return ConnectorInfo(
        slug=connector.slug,
        plugin=connector.plugin,
        version=connector.version,
        versions=list(connector.versions),
        title=connector.title,
        description=connector.description,
        auth_type=connector.auth_type,
        scopes=list(connector.auth.scopes),
        authorize_url=connector.auth.authorize_url,
        logo=connector.logo,
        actions=list(connector.actions),
        webhook=connector.webhook.model_dump(mode="json") if connector.webhook is not None else None,
    )


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register_connector(
    access: Owner,
    server: Server,
    wheel: Annotated[UploadFile | None, File(description="The connector plugin's wheel.")] = None,
    spec: Annotated[str | None, Form(max_length=200, description="Or NAME==VERSION from the package index.")] = None,
    grant: GrantField = None,
) -> dict[str, Any]:
    """Install a connector plugin (its manifest travels in the wheel) and list the connectors it offers."""
    plugin = await install_source(server, wheel, spec, grant=grant, actor=access.principal.email)
    offered = [_info(c).model_dump() for c in server.connectors.catalog.list() if c.plugin == plugin["name"]]
    return {"plugin": plugin, "connectors": offered}


@router.get("/list", response_model=Page[ConnectorInfo])
async def list_connectors(access: Viewer, server: Server) -> Page[ConnectorInfo]:
    """Every installed connector's manifest: name, scopes, auth URL, logo, actions (one page)."""
    del access
    return Page(items=[_info(connector) for connector in server.connectors.catalog.list()])


@router.put("/{slug}/client", status_code=status.HTTP_204_NO_CONTENT)
async def register_oauth_client(slug: str, body: OAuthClient, access: Owner, server: Server) -> None:
    """Register the workspace's OAuth client for a connector (owners only)."""
    await server.oauth.register_client(
        access.workspace_id,
        slug,
        body.client_id,
        body.client_secret,
        authorize_url=body.authorize_url,
        token_url=body.token_url,
    )


@router.post("/{slug}/authorize", response_model=AuthorizationStarted)
async def authorize_connector(slug: str, access: Editor, server: Server) -> AuthorizationStarted:
    """Start the OAuth authorization code flow (PKCE, state); open the URL in the user's browser."""
    url = await server.oauth.authorize(access.workspace_id, access.principal.user_id, slug)
    return AuthorizationStarted(authorization_url=url, redirect_uri=server.oauth.redirect_uri(slug))


@router.get("/{slug}/callback", response_model=Connected)
async def oauth_callback(
    slug: str,
    server: Server,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Connected:
    """Where the provider sends the browser back; the single-use state authenticates it."""
    view: CredentialView = await server.oauth.callback(slug, code=code, state=state, error=error)
    return Connected(connector=slug, credential=view.name, kind=view.kind, meta=view.meta)


@router.post("/{slug}/rotate", response_model=Connected)
async def rotate_connector(slug: str, body: Rotation, request: Request, access: Owner, server: Server) -> Connected:
    """Rotate the connector's credential: new API key values, or a token refresh for OAuth."""
    connector = server.connectors.catalog.get(slug)
    if connector.auth_type == "oauth2":
        if body.values is not None:
            raise ConfigurationError("an OAuth connector's tokens come from the provider; send no values to refresh")
        await server.oauth.refresh_now(access.workspace_id, slug)
        view = await server.credentials.view(access.workspace_id, slug)
    else:
        if not body.values:
            raise ConfigurationError(f"send the new values of connector {slug!r}'s fields in 'values'")
        view = await server.credentials.put(access.workspace_id, slug, dict(body.values), kind=connector.auth_type)
    await audit(
        request,
        access,
        "credential.rotate",
        target_type="credential",
        target_id=view.name,
        details={"connector": slug, "kind": view.kind},
    )
    return Connected(connector=slug, credential=view.name, kind=view.kind, meta=view.meta)


@router.post("/{slug}/webhook", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryAccepted)
async def connector_webhook(
    slug: str, request: Request, server: Server, workflow: Annotated[str, Query(max_length=WORKFLOW_ID_MAX)]
) -> DeliveryAccepted:
    """Webhook ingress for a connector: verified with its declared scheme on the raw body, stored once."""
    delivery: Delivery = await server.webhooks.receive(
        workflow, _headers(request), await request.body(), connector=slug
    )
    return DeliveryAccepted(execution_id=delivery.execution_id, duplicate=delivery.duplicate)


@router.post("/{slug}/{action}")
async def invoke_action(
    slug: str,
    action: str,
    request: Request,
    access: Editor,
    server: Server,
    version: Annotated[
        str | None, Query(max_length=64, description="A version to call; the newest by default.")
    ] = None,
) -> dict[str, Any]:
    """Call one of the connector's actions now with the workspace's credential for it."""
    payload = await request.json() if await request.body() else {}
    if not isinstance(payload, dict):
        raise ConfigurationError("the body is the action's input: a JSON object")
    return await server.connectors.invoke(access.workspace_id, slug, action, payload, version=version)


def _headers(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}
