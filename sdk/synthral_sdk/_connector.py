"""Connectors: a SaaS service's auth spec, its actions and its webhook verification."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar, Generic, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk._capability import Capability, CapabilityKind, Operation
from synthral_sdk._node import Node
from synthral_sdk._typevars import ConfigT
from synthral_sdk.context import Context
from synthral_sdk.types import JSONObject
from synthral_sdk.webhooks import WebhookScheme, WebhookVerification, verify_webhook_signature

__all__ = [
    "AuthSpec",
    "ConnectionCheck",
    "ConnectionStatus",
    "Connector",
    "CredentialField",
    "WebhookRequest",
    "WebhookSpec",
]


class CredentialField(BaseModel):
    """One field a user fills in to connect (an API key, a subdomain)."""

    name: str
    title: str = ""
    secret: bool = True
    description: str = ""


class AuthSpec(BaseModel):
    """How a user authorises the connector: the manifest's auth section."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["none", "api_key", "basic", "oauth2"] = "none"
    scopes: list[str] = Field(default_factory=list, description="OAuth scopes requested.")
    authorize_url: str | None = Field(default=None, description="OAuth authorization endpoint.")
    token_url: str | None = Field(default=None, description="OAuth token endpoint.")
    pkce: bool = Field(default=True, description="Use PKCE (S256) in the authorization code flow.")
    fields: list[CredentialField] = Field(
        default_factory=list, description="What the user enters for api_key or basic auth."
    )


class WebhookSpec(BaseModel):
    """How the service signs the webhooks it sends."""

    scheme: WebhookScheme = WebhookScheme.STANDARD
    events: list[str] = Field(default_factory=list, description="Event types the service can send.")


class WebhookRequest(BaseModel):
    """A webhook delivery as received, for :meth:`Connector.verify_webhook`."""

    headers: dict[str, str]
    body: str = Field(description="The raw body, decoded as UTF-8 exactly as received.")
    received_at: float | None = Field(default=None, description="Seconds since the epoch; now when absent.")


class ConnectionCheck(BaseModel):
    """Input of :meth:`Connector.test_connection` (nothing but the credentials in context)."""


class ConnectionStatus(BaseModel):
    """Whether the granted credentials work."""

    ok: bool
    message: str = ""


class Connector(Capability, Generic[ConfigT]):
    """A SaaS service: how to authorise against it, what it can do, how it signs webhooks.

    Set the class attributes ``auth``, ``logo``, ``actions`` (node classes, offered as
    nodes of the same plugin) and ``webhook``. Override :meth:`test_connection` to check
    credentials; override :meth:`verify_webhook` only for a signing scheme the SDK lacks.
    The connector's secrets (``secrets``) are granted to its actions' calls.
    """

    kind: ClassVar[CapabilityKind] = CapabilityKind.CONNECTOR
    category: ClassVar[str] = "Connectors"
    auth: ClassVar[AuthSpec] = AuthSpec()
    logo: ClassVar[str] = ""
    actions: ClassVar[tuple[type[Node[Any, Any, Any]], ...]] = ()
    webhook: ClassVar[WebhookSpec | None] = None

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {
            "test_connection": Operation(
                "test_connection", "test_connection", ConnectionCheck, ConnectionStatus, "Check the credentials."
            ),
            "verify_webhook": Operation(
                "verify_webhook", "verify_webhook", WebhookRequest, WebhookVerification, "Verify a delivery."
            ),
        }

    def extra(self) -> JSONObject:
        return {
            "auth": cast(JSONObject, self.auth.model_dump(mode="json")),
            "logo": self.logo,
            "actions": [action.name for action in self.actions],
            "webhook": None if self.webhook is None else cast(JSONObject, self.webhook.model_dump(mode="json")),
        }

    def test_connection(
        self, request: ConnectionCheck, config: ConfigT, context: Context
    ) -> ConnectionStatus | Awaitable[ConnectionStatus]:
        """Check that the granted credentials work. The default cannot tell and says so."""
        del request, config, context
        return ConnectionStatus(ok=True, message="this connector does not implement a connection test")

    def verify_webhook(
        self, request: WebhookRequest, config: ConfigT, context: Context
    ) -> WebhookVerification | Awaitable[WebhookVerification]:
        """Verify a delivery with the declared scheme and the granted webhook secrets.

        Every granted secret whose name starts with ``webhook`` is tried, so a rotated secret
        and its successor both verify during the overlap.
        """
        del config
        if self.webhook is None:
            return WebhookVerification(valid=False, reason=f"connector '{self.name}' does not accept webhooks")
        secrets = [value for key, value in context.secrets.items() if key.startswith("webhook")]
        return verify_webhook_signature(
            self.webhook.scheme,
            request.headers,
            request.body.encode(),
            secrets,
            now=request.received_at,
        )
