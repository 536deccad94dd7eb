"""Forwarding to the obs plugins: what the host publishes reaches Langfuse, PostHog, GlitchTip, Wazuh by itself.

One :class:`ObsForwarder` per host process takes every event published at
:mod:`synthral.observability.forward` and, for each obs plugin the operator enabled
(``SYNTHRAL_OBS_FORWARD``), puts it on that plugin's bounded queue:

- LLM calls and agent steps → ``obs-langfuse/trace``;
- product events (runs finished, sign-ins, plugins installed...) → ``obs-posthog/capture``;
- failed runs → ``obs-glitchtip/capture``;
- security acts (every audit event) → ``obs-wazuh/send``.

Each plugin has its own queue and its own sender task, so a slow or dead sink never holds up
another, and nothing a run does waits for any of them: offering an event is a lock and an
append. An event is dropped, and counted in ``obs_forward_dropped_total{sink,reason}``, when
its queue is full, when the plugin is not installed or enabled, when its keys are missing,
or when the plugin fails to send it. Events pass the process's secret masking first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from synthral.config import ObservabilitySettings
from synthral.engine.runtime import SecretResolver
from synthral.observability import forward
from synthral.observability.forward import EventKind
from synthral.observability.metrics import OBS_DROPPED, OBS_SENT
from synthral.plugins.host import PluginHost
from synthral.security.redact import process_redactor
from synthral_sdk.errors import SynthralError

__all__ = ["ROUTES", "SINKS", "ObsForwarder", "SinkSpec"]

log = logging.getLogger("synthral.observability.forward")

BATCH: Final = 200
"""Events sent per call at most (a plugin that takes one event per call gets them one by one)."""
INTERVAL: Final = 0.25
"""Seconds between looks at an idle queue."""
SECRETS_TTL: Final = 60.0
"""Seconds a sink's keys are kept before they are read again (a rotated key is picked up)."""
_CONTENT_LIMIT: Final = 32_000


def _clip(value: Any) -> Any:
    """``value``, or a note that it was too big to forward."""
    if value is None:
        return None
    size = len(orjson.dumps(value, default=str))
    return value if size <= _CONTENT_LIMIT else {"truncated": True, "bytes": size}


def _langfuse(kind: EventKind, event: dict[str, Any]) -> dict[str, Any]:
    if kind == "llm_call":
        failed = event.get("status") == "error"
        return {
            "type": "generation",
            "name": f"llm {event.get('provider') or ''}".strip(),
            "execution_id": event.get("execution_id"),
            "node_id": event.get("node_id"),
            "model": event.get("model"),
            "input": _clip(event.get("request")),
            "output": _clip(event.get("response")),
            "usage": {"input": event.get("tokens_input") or 0, "output": event.get("tokens_output") or 0},
            "cost_usd": event.get("usd_cost"),
            "latency_ms": event.get("latency_ms"),
            "level": "error" if failed else "info",
            "status_message": event.get("error_type") if failed else None,
            "metadata": {
                name: event[name]
                for name in ("provider", "attempts", "status", "agent_task_id", "conversation_id", "workspace_id")
                if event.get(name) is not None
            },
        }
    return {
        "type": "agent_step",
        "name": str(event.get("kind") or "step"),
        "execution_id": event.get("execution_id"),
        "node_id": event.get("node_id"),
        "output": _clip(event.get("message")),
        "metadata": {name: event[name] for name in ("task_id", "seq") if event.get(name) is not None},
    }


def _posthog(kind: EventKind, event: dict[str, Any]) -> dict[str, Any]:
    del kind
    who = (event.get("actor_id") or event.get("target_id")) if event.get("action") else None
    workspace = event.get("workspace_id")
    properties = {
        name: value
        for name, value in event.items()
        if name not in {"event", "id", "actor_id", "target_id", "ip", "details", "at", "prev_hash", "hash"}
        and value is not None
    }
    out: dict[str, Any] = {
        "event": event["event"],
        "distinct_id": str(who or (f"workspace:{workspace}" if workspace else "synthral-host")),
        "properties": properties,
    }
    if workspace:
        out["groups"] = {"workspace": str(workspace)}
    if event.get("at"):
        out["timestamp"] = event["at"]
    return out


def _glitchtip(kind: EventKind, event: dict[str, Any]) -> dict[str, Any]:
    del kind
    tags = {name: str(event[name]) for name in ("status", "trigger", "workspace_id") if event.get(name)}
    return {
        "exception": {"type": event.get("error_type") or "RunFailed", "value": event.get("error_message") or ""},
        "execution_id": event.get("execution_id"),
        "workflow": event.get("workflow"),
        "node_id": event.get("node_id"),
        "tags": tags,
        "fingerprint": ["synthral", str(event.get("workflow")), str(event.get("error_type"))],
    }


def _wazuh(kind: EventKind, event: dict[str, Any]) -> dict[str, Any]:
    del kind
    fields = ("action", "outcome", "at", "actor_id", "actor_kind", "workspace_id", "target_type", "target_id", "ip")
    out = {name: event.get(name) for name in fields}
    out["details"] = dict(event.get("details") or {})
    return out


@dataclass(frozen=True)
class SinkSpec:
    """How one obs plugin is fed.

    Attributes:
        capability: ``plugin/capability`` called.
        secrets: The plugin's secret name → the credential read for it by default.
        convert: One published event → one item of the plugin's input.
        wrap: The input field a batch goes in; None: the plugin takes one item per call.
    """

    capability: str
    secrets: dict[str, str]
    convert: Callable[[EventKind, dict[str, Any]], dict[str, Any]]
    wrap: str | None


SINKS: Final[dict[str, SinkSpec]] = {
    "langfuse": SinkSpec(
        "obs-langfuse/trace",
        {"public_key": "langfuse_public_key", "secret_key": "langfuse_secret_key"},
        _langfuse,
        "observations",
    ),
    "posthog": SinkSpec("obs-posthog/capture", {"api_key": "posthog_api_key"}, _posthog, "events"),
    "glitchtip": SinkSpec("obs-glitchtip/capture", {"dsn": "glitchtip_dsn"}, _glitchtip, None),
    "wazuh": SinkSpec("obs-wazuh/send", {}, _wazuh, "events"),
}
"""Every obs plugin the host can feed, by the name ``SYNTHRAL_OBS_FORWARD`` uses."""

ROUTES: Final[dict[str, tuple[str, ...]]] = {
    "llm_call": ("langfuse",),
    "agent_step": ("langfuse",),
    "product": ("posthog",),
    "error": ("glitchtip",),
    "security": ("wazuh",),
}
"""Which sinks each kind of event goes to."""


@dataclass
class _Queue:
    name: str
    spec: SinkSpec
    config: dict[str, Any]
    credentials: dict[str, str]
    capacity: int
    items: deque[tuple[EventKind, dict[str, Any]]] = field(default_factory=deque)
    secrets: dict[str, str] | None = None
    secrets_read: float = 0.0
    complaint: str | None = None
    """The last trouble logged, so a sink that stays down is logged once, not per batch."""


class ObsForwarder:
    """Takes published events and sends them to the enabled obs plugins, never blocking the publisher.

    Args:
        plugins: The host's plugins (the obs plugins must be installed and enabled).
        secrets: Reads the sinks' keys from the credential store (``settings.forward_workspace``'s
            credentials; ``SYNTHRAL_SECRET_<NAME>`` without a workspace).
        settings: Which sinks, their config, credential names and queue bound.
        timeout: Seconds one send may take.
    """

    def __init__(
        self, plugins: PluginHost, secrets: SecretResolver, settings: ObservabilitySettings, *, timeout: float = 30.0
    ) -> None:
        self.plugins = plugins
        self.resolve_secrets = secrets
        self.workspace_id = settings.forward_workspace or None
        self.timeout = timeout
        self._lock = threading.Lock()
        self._queues: dict[str, _Queue] = {}
        for name in settings.forward:
            spec = SINKS[name]
            credentials = dict(spec.secrets)
            for pair in filter(None, (p.strip() for p in settings.forward_secrets.get(name, "").split(","))):
                secret, _, credential = pair.partition("=")
                credentials[secret.strip()] = credential.strip()
            config = orjson.loads(settings.forward_config[name]) if name in settings.forward_config else {}
            self._queues[name] = _Queue(name, spec, config, credentials, settings.forward_queue)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def sinks(self) -> list[str]:
        """The sinks events go to."""
        return list(self._queues)

    def offer(self, kind: EventKind, event: dict[str, Any]) -> None:
        """Queue ``event`` for its sinks (any thread, never blocks); count it dropped where a queue is full."""
        targets = [self._queues[name] for name in ROUTES.get(kind, ()) if name in self._queues]
        if not targets:
            return
        clean = process_redactor.value(event)
        with self._lock:
            for queue in targets:
                if len(queue.items) >= queue.capacity:
                    OBS_DROPPED.labels(sink=queue.name, reason="queue_full").inc()
                else:
                    queue.items.append((kind, clean))

    def pending(self, sink: str) -> int:
        """Events waiting for ``sink``."""
        with self._lock:
            return len(self._queues[sink].items)

    def start(self) -> None:
        """Install as the process's receiver and start one sender per sink (on the running loop)."""
        forward.install(self)
        for queue in self._queues.values():
            self._tasks.append(asyncio.create_task(self._sender(queue), name=f"synthral-obs-{queue.name}"))
        if self._queues:
            log.info("forwarding observability events to %s", ", ".join(self._queues))

    async def close(self, *, drain: float = 5.0) -> None:
        """Stop taking events, send what is queued for up to ``drain`` seconds, then stop the senders."""
        forward.uninstall(self)
        self._closing = True
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=drain)  # each sender ends once its queue is empty
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        with self._lock:
            for queue in self._queues.values():
                if queue.items:
                    OBS_DROPPED.labels(sink=queue.name, reason="shutdown").inc(len(queue.items))
                    queue.items.clear()

    async def _sender(self, queue: _Queue) -> None:
        while True:
            with self._lock:
                batch = [queue.items.popleft() for _ in range(min(len(queue.items), BATCH))]
            if not batch:
                if self._closing:
                    return
                await asyncio.sleep(INTERVAL)
                continue
            try:
                await self._send(queue, batch)
            except asyncio.CancelledError:
                OBS_DROPPED.labels(sink=queue.name, reason="shutdown").inc(len(batch))
                raise
            except Exception:  # a bug here must not stop the sender: the batch is lost, counted, logged
                log.exception("forwarding to %s failed unexpectedly", queue.name)
                OBS_DROPPED.labels(sink=queue.name, reason="error").inc(len(batch))

    async def _send(self, queue: _Queue, batch: list[tuple[EventKind, dict[str, Any]]]) -> None:
        spec = queue.spec
        try:
            self.plugins.resolve(spec.capability)
        except SynthralError as exc:
            self._drop(queue, batch, "not_installed", f"{exc.message}; install and enable obs-{queue.name}")
            return
        try:
            secrets = await self._secrets(queue)
        except SynthralError as exc:
            self._drop(queue, batch, "no_credentials", exc.message)
            return
        items = [spec.convert(kind, event) for kind, event in batch]
        payloads = [{spec.wrap: items}] if spec.wrap is not None else items
        context = self.plugins.context(timeout=self.timeout, secrets=secrets, workspace_id=self.workspace_id)
        for payload, count in zip(payloads, [len(items)] if spec.wrap else [1] * len(items), strict=True):
            try:
                await asyncio.wait_for(
                    self.plugins.invoke(spec.capability, payload, config=queue.config, context=context),
                    self.timeout + 5,
                )
            except (SynthralError, TimeoutError) as exc:
                message = exc.message if isinstance(exc, SynthralError) else "timed out"
                self._drop(queue, batch[:count], "sink_error", f"{spec.capability} failed: {message}")
                continue
            OBS_SENT.labels(sink=queue.name).inc(count)
            if queue.complaint is not None:
                log.info("forwarding to %s works again", queue.name)
                queue.complaint = None

    async def _secrets(self, queue: _Queue) -> dict[str, str]:
        if not queue.credentials:
            return {}
        now = time.monotonic()
        if queue.secrets is None or now - queue.secrets_read > SECRETS_TTL:
            names = sorted(set(queue.credentials.values()))
            values = await self.resolve_secrets(names, self.workspace_id)
            queue.secrets = {secret: values[credential] for secret, credential in queue.credentials.items()}
            queue.secrets_read = now
        return queue.secrets

    def _drop(self, queue: _Queue, batch: list[Any], reason: str, message: str) -> None:
        OBS_DROPPED.labels(sink=queue.name, reason=reason).inc(len(batch))
        if queue.complaint != message:
            log.warning("observability events for %s are dropped: %s", queue.name, message)
            queue.complaint = message
