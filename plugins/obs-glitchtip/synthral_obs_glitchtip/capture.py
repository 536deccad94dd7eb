"""Report an error to GlitchTip (or Sentry): one event sent by the Sentry SDK's own client.

GlitchTip speaks Sentry's ingestion protocol, so the official ``sentry-sdk`` does the work:
the DSN (granted as the secret ``dsn``, since it holds the project's key) names the server and
project, the client builds the envelope, signs it with ``X-Sentry-Auth`` and sends it. No
integrations are enabled: the plugin reports what it is given, nothing of its own process.
Events carry no personal data unless the input puts some there.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import sentry_sdk
from pydantic import BaseModel, Field
from sentry_sdk.utils import BadDsn, Dsn

from synthral_sdk import Context, Node
from synthral_sdk.errors import ConfigInvalid, RetryableError

__all__ = ["DSN_SECRET", "CaptureConfig", "CaptureError", "CaptureInput", "CaptureOutput"]

DSN_SECRET = "dsn"  # noqa: S105 -- the secret's name, not its value
_clients: dict[tuple[str, str | None, str | None], sentry_sdk.Client] = {}
_lock = threading.Lock()


class ExceptionInfo(BaseModel):
    """The error as the run recorded it."""

    type: str = Field(min_length=1, max_length=200, description="The error's type, e.g. PluginError.")
    value: str = Field(default="", max_length=8000, description="Its message.")
    module: str | None = None


class CaptureInput(BaseModel):
    """What went wrong, and where."""

    message: str | None = Field(default=None, max_length=8000, description="A message, when there is no exception.")
    exception: ExceptionInfo | None = None
    level: Literal["fatal", "error", "warning", "info", "debug"] = "error"
    execution_id: str | None = Field(default=None, description="Tagged, so issues link back to the run.")
    workflow: str | None = None
    node_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    fingerprint: list[str] | None = Field(default=None, description="Groups events into one issue.")


class CaptureConfig(BaseModel):
    """How events are labelled."""

    model_config = {"extra": "forbid"}

    environment: str | None = Field(default=None, max_length=64)
    release: str | None = Field(default=None, max_length=200)
    flush_timeout: float = Field(default=5.0, gt=0, le=60, description="Seconds to wait for the send.")


class CaptureOutput(BaseModel):
    """The event's id, as GlitchTip shows it."""

    event_id: str


def _client(dsn: str, config: CaptureConfig) -> sentry_sdk.Client:
    key = (dsn, config.environment, config.release)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = sentry_sdk.Client(
                dsn=dsn,
                environment=config.environment,
                release=config.release,
                default_integrations=False,
                auto_enabling_integrations=False,
                send_default_pii=False,
                max_breadcrumbs=0,
            )
        return client


class CaptureError(Node[CaptureInput, CaptureOutput, CaptureConfig]):
    """Send an error (a failed run, a step's exception, a message) to GlitchTip or Sentry."""

    name = "capture"
    title = "Report an error (GlitchTip / Sentry)"
    secrets = (DSN_SECRET,)

    def run(self, inputs: CaptureInput, config: CaptureConfig, context: Context) -> CaptureOutput:
        """Build the event, send it and wait until it has left.

        Raises:
            ConfigInvalid: No DSN granted, or one that is not a DSN.
            RetryableError: The event could not be sent within ``flush_timeout``.
        """
        dsn = context.secrets.get(DSN_SECRET)
        if not dsn:
            raise ConfigInvalid(
                f"grant the project's DSN as the secret {DSN_SECRET!r} (GlitchTip: Project settings -> Client keys)"
            )
        try:
            Dsn(dsn)
        except BadDsn as exc:
            raise ConfigInvalid(
                f"the secret {DSN_SECRET!r} is not a DSN ({exc}); it looks like https://KEY@glitchtip.example.com/1"
            ) from None
        if inputs.message is None and inputs.exception is None:
            raise ConfigInvalid("give a message or an exception to report")
        event: dict[str, Any] = {"level": inputs.level, "platform": "python", "logger": "synthral"}
        if inputs.exception is not None:
            event["exception"] = {"values": [inputs.exception.model_dump(exclude_none=True)]}
        if inputs.message is not None:
            event["message"] = inputs.message
        tags = dict(inputs.tags)
        for name, value in (("execution_id", inputs.execution_id), ("workflow", inputs.workflow),
                            ("node_id", inputs.node_id)):  # fmt: skip
            if value is not None:
                tags[f"synthral.{name}"] = value
        event["tags"] = tags
        if inputs.extra:
            event["extra"] = inputs.extra
        if inputs.fingerprint:
            event["fingerprint"] = inputs.fingerprint
        client = _client(dsn, config)
        event_id = client.capture_event(event)
        if event_id is None:
            raise RetryableError("the Sentry client dropped the event (rate limited or sampled out)")
        transport = client.transport
        client.flush(timeout=config.flush_timeout)
        if transport is not None and getattr(transport, "_disabled_until", {}).get(None):
            raise RetryableError("GlitchTip asked the client to back off; try again later")
        context.log.info("reported event %s", event_id)
        return CaptureOutput(event_id=str(event_id))
