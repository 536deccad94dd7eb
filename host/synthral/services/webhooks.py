"""Webhook ingress: verify the raw delivery, make it durable once, and start the workflow.

A workflow with a ``webhook`` trigger is a subscription. Its signing secrets live in the
workspace's credentials as ``webhook.<workflow id>`` (the newest first; the previous one
stays valid after a rotation so senders can switch over). A delivery is verified on its raw
bytes with the scheme its connector declares (Standard Webhooks otherwise), deduplicated on
the sender's delivery id (or the body's hash), and recorded as a queued execution whose id is
derived from that key: the same delivery sent ten times at once creates one execution, and
every copy is answered 2xx once it is stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from synthral.engine.model import WebhookTrigger
from synthral.engine.repository import WorkflowNotFound
from synthral.errors import AuthenticationFailed, ConfigurationError, NotFound
from synthral.plugins.host import PluginHost
from synthral.services.secrets import CredentialService
from synthral.services.workflows import WorkflowService
from synthral_sdk import CapabilityKind
from synthral_sdk.webhooks import WebhookScheme, verify_webhook_signature

__all__ = ["Delivery", "Subscription", "WebhookService", "webhook_credential"]

KEPT_SECRETS = 2
"""The current secret and the one before it (valid until the next rotation)."""
FORWARDED_HEADERS = ("content-type", "user-agent", "x-github-event", "x-github-delivery", "webhook-id")


def webhook_credential(workflow_id: str) -> str:
    """The credential holding a subscription's signing secrets."""
    return f"webhook.{workflow_id}"


@dataclass(frozen=True)
class Subscription:
    """Where a sender delivers, and the secret it signs with (shown once)."""

    workflow_id: str
    path: str
    secret: str
    scheme: str


@dataclass(frozen=True)
class Delivery:
    """A stored delivery."""

    execution_id: str
    duplicate: bool


class WebhookService:
    """Subscriptions and deliveries over the workflow and credential services."""

    def __init__(self, workflows: WorkflowService, credentials: CredentialService, plugins: PluginHost) -> None:
        self.workflows = workflows
        self.credentials = credentials
        self.plugins = plugins

    def _scheme(self, trigger: WebhookTrigger) -> WebhookScheme:
        if trigger.connector is None:
            return WebhookScheme.STANDARD
        for entry in self.plugins.catalog():
            if entry.spec.kind == CapabilityKind.CONNECTOR and entry.spec.name == trigger.connector:
                declared = entry.spec.extra.get("webhook")
                scheme = declared.get("scheme") if isinstance(declared, dict) else None
                if isinstance(scheme, str):
                    return WebhookScheme(scheme)
                raise ConfigurationError(f"connector {trigger.connector!r} does not accept webhooks")
        raise ConfigurationError(
            f"connector {trigger.connector!r} is not installed; install its plugin to receive its webhooks"
        )

    async def _trigger(self, workflow_id: str, workspace_id: str | None, connector: str | None) -> Any:
        saved = await self.workflows.get(workflow_id, workspace_id=workspace_id)
        for trigger in saved.workflow.triggers:
            if isinstance(trigger, WebhookTrigger) and (connector is None or trigger.connector == connector):
                return saved, trigger
        return saved, None

    async def subscribe(self, workspace_id: str, workflow: str, *, secret: str | None = None) -> Subscription:
        """Create (or rotate) a workflow's signing secret; the previous one stays valid until the next rotation.

        Raises:
            ConfigurationError: The workflow has no webhook trigger.
        """
        saved, trigger = await self._trigger(workflow, workspace_id, None)
        if trigger is None:
            raise ConfigurationError(
                f'workflow {saved.name!r} has no webhook trigger; add {{"type": "webhook"}} to its triggers'
            )
        scheme = self._scheme(trigger)
        name = webhook_credential(saved.workflow_id)
        try:
            current = await self.credentials.get_value(workspace_id, name)
            kept = list(current.get("secrets", [])) if isinstance(current, dict) else []
        except NotFound:
            kept = []
        new_secret = secret or (
            "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
            if scheme is WebhookScheme.STANDARD
            else secrets.token_urlsafe(32)
        )
        await self.credentials.put(
            workspace_id,
            name,
            {"secrets": [new_secret, *kept][:KEPT_SECRETS]},
            kind="webhook",
            meta={"workflow_id": saved.workflow_id, "scheme": scheme.value},
        )
        if trigger.connector:
            path = f"/api/v1/connectors/{trigger.connector}/webhook?workflow={saved.workflow_id}"
        else:
            path = f"/api/v1/hooks/{saved.workflow_id}"
        return Subscription(saved.workflow_id, path, new_secret, scheme.value)

    async def receive(
        self, workflow_id: str, headers: dict[str, str], body: bytes, *, connector: str | None = None
    ) -> Delivery:
        """Verify one delivery and queue the run it starts (once per delivery id).

        Raises:
            NotFound: No workflow with a webhook trigger (for that connector) by that id.
            AuthenticationFailed: The signature does not verify; the reason says why.
        """
        try:
            saved, trigger = await self._trigger(workflow_id, None, connector)
        except WorkflowNotFound:
            trigger = None
        if trigger is None or saved.workspace_id is None:
            raise NotFound("no webhook subscription here; check the URL the workflow's subscription gave")
        try:
            stored = await self.credentials.get_value(saved.workspace_id, webhook_credential(saved.workflow_id))
        except NotFound:
            raise NotFound("this subscription has no signing secret yet; create one first") from None
        valid = list(stored.get("secrets", [])) if isinstance(stored, dict) else []
        verdict = verify_webhook_signature(self._scheme(trigger), headers, body, valid)
        if not verdict.valid:
            raise AuthenticationFailed(f"the webhook signature does not verify: {verdict.reason}")
        key = verdict.delivery_id or "sha256:" + hashlib.sha256(body).hexdigest()
        execution_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:webhook:{saved.workflow_id}:{key}"))
        payload = {
            "body": _payload(body),
            "headers": {name: headers[name] for name in FORWARDED_HEADERS if name in headers},
            "delivery_id": key,
            "event_type": verdict.event_type,
        }
        try:
            _, created = await self.workflows.start_once(
                saved.workflow_id, payload, execution_id=execution_id, trigger="webhook"
            )
        except IntegrityError:  # another copy of the delivery stored it a moment before
            return Delivery(execution_id, duplicate=True)
        return Delivery(execution_id, duplicate=not created)


def _payload(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return {"raw": body.decode("utf-8", errors="replace")}
