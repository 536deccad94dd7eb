"""Webhook ingress: verify the raw delivery, make it durable once, and start the workflow.

A workflow with a ``webhook`` trigger is a subscription. Its signing secrets live in the
workspace's credentials as ``webhook.<workflow id>`` (the newest first; the previous one
stays valid after a rotation so senders can switch over). A delivery is verified on its raw
bytes with the scheme its connector declares (Standard Webhooks otherwise), deduplicated on
the sender's delivery id when the signature covers it (or else on the signed body's hash, see
:func:`dedupe_key`), and recorded as a queued execution whose id is
derived from that key: the same delivery sent ten times at once creates one execution, and
every copy is answered 2xx once it is stored. A body that refers to a blob the workflow's
workspace was not given is refused before anything is stored: the sender is anonymous.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from synthral.engine import state
from synthral.engine.model import WebhookTrigger
from synthral.engine.repository import SavedVersion, WorkflowNotFound
from synthral.errors import AuthenticationFailed, BlobNotFound, ConfigurationError, NotFound
from synthral.observability import hooks as observe
from synthral.services.connectors import ConnectorCatalog
from synthral.services.secrets import CredentialService
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral_sdk.webhooks import WebhookScheme, verify_webhook_signature

__all__ = ["Delivery", "Subscription", "WebhookService", "dedupe_key", "webhook_credential"]

KEPT_SECRETS = 2
"""The current secret and the one before it (valid until the next rotation)."""
CACHE_SECONDS = 2.0
"""How long a subscription (version, scheme, secrets) is reused before it is read again."""
BATCH = 256
"""Deliveries stored in one transaction at most."""
SIGNED_DELIVERY_IDS = frozenset({WebhookScheme.STANDARD})
"""Schemes whose signature covers the delivery id (and a timestamp)."""
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


@dataclass(frozen=True)
class _Subscription:
    workflow_id: str
    workspace_id: str
    workflow_version: int
    scheme: WebhookScheme
    secrets: list[str]
    loaded_at: float


@dataclass
class _GroupCommit:
    """Stores deliveries arriving together in one transaction: one commit (one fsync) for many."""

    database: Database
    on_commit: Callable[[], None]
    pending: list[tuple[state.NewRun, asyncio.Future[bool]]] = field(default_factory=list)
    flushing: asyncio.Task[None] | None = None

    async def store(self, run: state.NewRun) -> bool:
        """Queue the run; True if it is new (False: its id existed)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append((run, future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:BATCH], self.pending[BATCH:]
            try:
                runs = [run for run, _ in batch]
                created = await self.database.write(
                    lambda connection: state.enqueue_new(self.database, connection, runs)  # noqa: B023 -- awaited here
                )
            except Exception as exc:  # noqa: BLE001 -- every waiting request gets the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.on_commit()
            for (_, future), new in zip(batch, created, strict=True):
                if not future.done():
                    future.set_result(new)


class WebhookService:
    """Subscriptions and deliveries over the workflow and credential services."""

    def __init__(
        self, workflows: WorkflowService, credentials: CredentialService, connectors: ConnectorCatalog
    ) -> None:
        self.workflows = workflows
        self.credentials = credentials
        self.connectors = connectors
        self._subscriptions: dict[tuple[str, str | None], _Subscription] = {}
        self._loading: dict[tuple[str, str | None], asyncio.Task[_Subscription]] = {}
        self._commits = _GroupCommit(workflows.database, workflows.engine.notify)

    def _scheme(self, trigger: WebhookTrigger, saved: SavedVersion) -> WebhookScheme:
        """The signing scheme: the connector's, at the version the workflow pins (Standard Webhooks without one)."""
        if trigger.connector is None:
            return WebhookScheme.STANDARD
        return self.connectors.webhook_scheme(trigger.connector, saved.plugin_versions)

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
        scheme = self._scheme(trigger, saved)
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
        for key in [k for k in (*self._subscriptions, *self._loading) if k[0] == saved.workflow_id]:
            self._subscriptions.pop(key, None)
            self._loading.pop(key, None)
        if trigger.connector:
            path = f"/api/v1/connectors/{trigger.connector}/webhook?workflow={saved.workflow_id}"
        else:
            path = f"/api/v1/hooks/{saved.workflow_id}"
        return Subscription(saved.workflow_id, path, new_secret, scheme.value)

    async def _subscription(self, workflow_id: str, connector: str | None, *, fresh: bool) -> _Subscription:
        """The subscription, read at most once at a time per key.

        A cached entry older than ``CACHE_SECONDS`` is still used while one background read
        replaces it: under load, every delivery arriving in the same instant would otherwise
        read the workflow and its secrets again, all at once.
        """
        key = (workflow_id, connector)
        cached = self._subscriptions.get(key)
        if cached is not None and not fresh:
            if time.monotonic() - cached.loaded_at >= CACHE_SECONDS:
                self._reload(key)
            return cached
        return await asyncio.shield(self._reload(key))

    def _reload(self, key: tuple[str, str | None]) -> asyncio.Task[_Subscription]:
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.create_task(self._load(*key))
            self._loading[key] = loading
            loading.add_done_callback(functools.partial(self._loaded, key))
        return loading

    def _loaded(self, key: tuple[str, str | None], loading: asyncio.Task[_Subscription]) -> None:
        failed = loading.cancelled() or loading.exception() is not None
        if self._loading.get(key) is not loading:
            return  # a rotation made meanwhile discarded this read
        del self._loading[key]
        if failed:
            self._subscriptions.pop(key, None)  # gone or failing: the next delivery is told why
            return
        if len(self._subscriptions) > 10_000:
            self._subscriptions.clear()
        self._subscriptions[key] = loading.result()

    async def _load(self, workflow_id: str, connector: str | None) -> _Subscription:
        try:
            saved, trigger = await self._trigger(workflow_id, None, connector)
        except WorkflowNotFound:
            trigger = None
        if trigger is None or saved.workspace_id is None:
            observe.webhook_delivery("rejected", "unknown")
            raise NotFound("no webhook subscription here; check the URL the workflow's subscription gave")
        try:
            stored = await self.credentials.get_value(saved.workspace_id, webhook_credential(saved.workflow_id))
        except NotFound:
            raise NotFound("this subscription has no signing secret yet; create one first") from None
        secrets_ = list(stored.get("secrets", [])) if isinstance(stored, dict) else []
        return _Subscription(
            saved.workflow_id,
            saved.workspace_id,
            saved.version,
            self._scheme(trigger, saved),
            secrets_,
            time.monotonic(),
        )

    async def receive(
        self, workflow_id: str, headers: dict[str, str], body: bytes, *, connector: str | None = None
    ) -> Delivery:
        """Verify one delivery and queue the run it starts (once per delivery id).

        The subscription is reused for a moment between deliveries; a signature that does
        not verify against it is checked once more against a fresh read, so a rotation made
        by another server process is honoured at once.

        Raises:
            NotFound: No workflow with a webhook trigger (for that connector) by that id.
            AuthenticationFailed: The signature does not verify; the reason says why.
            BlobNotFound: The body refers to a blob the workflow's workspace was not given.
        """
        subscription = await self._subscription(workflow_id, connector, fresh=False)
        verdict = verify_webhook_signature(subscription.scheme, headers, body, subscription.secrets)
        if not verdict.valid and time.monotonic() - subscription.loaded_at > 0.05:
            subscription = await self._subscription(workflow_id, connector, fresh=True)
            verdict = verify_webhook_signature(subscription.scheme, headers, body, subscription.secrets)
        if not verdict.valid:
            observe.webhook_delivery("rejected", "signature")
            raise AuthenticationFailed(f"the webhook signature does not verify: {verdict.reason}")
        key = dedupe_key(subscription.scheme, verdict.delivery_id, body)
        execution_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:webhook:{subscription.workflow_id}:{key}"))
        payload = {
            "body": _payload(body),
            "headers": {name: headers[name] for name in FORWARDED_HEADERS if name in headers},
            "delivery_id": verdict.delivery_id or key,
            "event_type": verdict.event_type,
        }
        # A key '$blob' appears as such in the raw bytes unless escaped, and escapes are rare.
        if b"$blob" in body or b"\\u" in body:
            try:
                await self.workflows.grants.check(subscription.workspace_id, payload["body"])
            except BlobNotFound:
                observe.webhook_delivery("rejected", "blob")
                raise
        created = await self._commits.store(
            state.NewRun(
                workflow_id=subscription.workflow_id,
                workflow_version=subscription.workflow_version,
                input=payload,
                trigger="webhook",
                execution_id=execution_id,
            )
        )
        observe.webhook_delivery("accepted", "new" if created else "duplicate")
        return Delivery(execution_id, duplicate=not created)


def dedupe_key(scheme: WebhookScheme, delivery_id: str | None, body: bytes) -> str:
    """What identifies a verified delivery, so that its copies start one run.

    The sender's delivery id only when the signature covers it (Standard Webhooks signs the
    id with a timestamp). Otherwise — GitHub signs the body alone, with no timestamp — an id
    header could be changed at will on a captured delivery, so the key is the hash of what
    the signature covers: the accepted signature is remembered, and a replay with a new id
    is a duplicate for as long as the run's history is kept.
    """
    if delivery_id and scheme in SIGNED_DELIVERY_IDS:
        return delivery_id
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _payload(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return {"raw": body.decode("utf-8", errors="replace")}
