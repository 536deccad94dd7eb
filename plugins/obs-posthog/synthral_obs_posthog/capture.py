"""Product events and feature flags through the official ``posthog`` SDK.

Events go to PostHog's capture endpoint (``/batch/``), flags are asked of ``/flags/``; the
project's token is granted as the secret ``api_key``.

**No personal data unless the operator opts in** (``personal_data: true``). By default:
a distinct id is replaced by a keyed pseudonym (HMAC-SHA256 with the project token, so one
person keeps one pseudonym in one project and nobody without the token can test a guess);
properties whose names denote a person (email, name, phone, ip, address, user agent...) are
dropped; e-mail addresses inside other values are blanked; the events are marked
``$process_person_profile: false`` (no person profiles) and GeoIP is off.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from datetime import datetime
from typing import Any

from posthog import Posthog
from pydantic import BaseModel, Field, HttpUrl

from synthral_sdk import Context, Node
from synthral_sdk.errors import ConfigInvalid, RetryableError

__all__ = [
    "API_KEY_SECRET",
    "CaptureEvents",
    "CaptureInput",
    "CaptureOutput",
    "EvaluateFlags",
    "FlagsInput",
    "FlagsOutput",
    "PostHogConfig",
    "ProductEvent",
    "pseudonym",
]

API_KEY_SECRET = "api_key"  # noqa: S105 -- the secret's name, not its value
_PERSONAL = re.compile(
    r"^\$?(e-?mail|name|first_?name|last_?name|full_?name|username|user_?name|phone|mobile|ip|address|street|"
    r"user_?agent|raw_user_agent|birth_?date|ssn|initial_person_info)$",
    re.I,
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def pseudonym(distinct_id: str, project_key: str) -> str:
    """The pseudonym of ``distinct_id`` in the project whose token is ``project_key``."""
    digest = hmac.new(project_key.encode(), distinct_id.encode(), hashlib.sha256).hexdigest()
    return f"anon_{digest[:32]}"


class ProductEvent(BaseModel):
    """One product event."""

    event: str = Field(min_length=1, max_length=200, description="What happened, e.g. workflow_run_finished.")
    distinct_id: str = Field(min_length=1, max_length=200, description="Who (a user id); pseudonymised by default.")
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None
    groups: dict[str, str] = Field(default_factory=dict, description="e.g. {'workspace': '<id>'}.")


class PostHogConfig(BaseModel):
    """Where PostHog is and whether personal data may go there."""

    model_config = {"extra": "forbid"}

    host: HttpUrl = Field(default=HttpUrl("https://us.i.posthog.com"), description="PostHog's ingestion host.")
    personal_data: bool = Field(
        default=False,
        description="Send distinct ids, e-mails and other personal properties as they are (opt-in).",
    )
    flush_timeout: float = Field(default=10.0, gt=0, le=60, description="Seconds to wait for the send.")


class CaptureInput(BaseModel):
    """The events to send."""

    events: list[ProductEvent] = Field(min_length=1, max_length=1000)


class CaptureOutput(BaseModel):
    """How many were sent."""

    sent: int


class FlagsInput(BaseModel):
    """Whose flags, and which."""

    distinct_id: str = Field(min_length=1, max_length=200)
    flags: list[str] | None = Field(default=None, description="Only these flag keys; all when absent.")
    person_properties: dict[str, Any] = Field(default_factory=dict)
    groups: dict[str, str] = Field(default_factory=dict)


class FlagsOutput(BaseModel):
    """Each flag's value: true/false, or the variant's name."""

    flags: dict[str, bool | str]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _EMAIL.sub("[email]", value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not (isinstance(k, str) and _PERSONAL.match(k))}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


class _SDKErrors(logging.Handler):
    """Counts the errors the SDK logs: it logs a failed flags request and answers no flags."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.last = record.getMessage()[:300]


_sdk_errors = _SDKErrors()
logging.getLogger("posthog").addHandler(_sdk_errors)


class _Client:
    def __init__(self, key: str, host: str, timeout: float) -> None:
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.posthog = Posthog(
            key,
            host=host,
            disable_geoip=True,
            max_retries=1,
            timeout=timeout,
            feature_flags_request_timeout_seconds=timeout,
            on_error=lambda error, _batch: self.errors.append(str(error)[:300]),
            flush_at=1000,
            flush_interval=0.5,
        )


_clients: dict[tuple[str, str, float], _Client] = {}
_clients_lock = threading.Lock()


def _client(context: Context, config: PostHogConfig) -> tuple[str, _Client]:
    key = context.secrets.get(API_KEY_SECRET) or ""
    if not key:
        raise ConfigInvalid(
            f"grant the project's API key as the secret {API_KEY_SECRET!r} (PostHog: Project settings -> "
            "Project API key, starts with 'phc_')"
        )
    host = str(config.host).rstrip("/")
    with _clients_lock:
        client = _clients.get((key, host, config.flush_timeout))
        if client is None:
            client = _clients[(key, host, config.flush_timeout)] = _Client(key, host, config.flush_timeout)
    return key, client


class CaptureEvents(Node[CaptureInput, CaptureOutput, PostHogConfig]):
    """Send product events to PostHog (pseudonymous unless personal data is allowed)."""

    name = "capture"
    title = "Product events (PostHog)"
    secrets = (API_KEY_SECRET,)

    def run(self, inputs: CaptureInput, config: PostHogConfig, context: Context) -> CaptureOutput:
        """Queue every event, flush, and report failure when PostHog did not take them.

        Raises:
            ConfigInvalid: No API key granted.
            RetryableError: PostHog refused or could not be reached.
        """
        key, client = _client(context, config)
        with client.lock:
            errors = len(client.errors)
            for item in inputs.events:
                properties = dict(item.properties)
                distinct_id = item.distinct_id
                if not config.personal_data:
                    properties = _scrub(properties)
                    distinct_id = pseudonym(distinct_id, key)
                    properties["$process_person_profile"] = False
                client.posthog.capture(
                    item.event,
                    distinct_id=distinct_id,
                    properties=properties,
                    timestamp=item.timestamp,
                    groups=item.groups or None,
                    disable_geoip=True,
                )
            client.posthog.flush(timeout_seconds=config.flush_timeout)
            if len(client.errors) != errors:
                raise RetryableError(
                    f"PostHog at {str(config.host).rstrip('/')} did not take the events ({client.errors[-1]}); "
                    "check that it is up and the project API key is right"
                )
        context.log.info("sent %d product event(s) to PostHog", len(inputs.events))
        return CaptureOutput(sent=len(inputs.events))


class EvaluateFlags(Node[FlagsInput, FlagsOutput, PostHogConfig]):
    """Ask PostHog which feature flags are on for someone (pseudonymous unless personal data is allowed)."""

    name = "flags"
    title = "Feature flags (PostHog)"
    secrets = (API_KEY_SECRET,)

    def run(self, inputs: FlagsInput, config: PostHogConfig, context: Context) -> FlagsOutput:
        """The flags' values for ``distinct_id``.

        Raises:
            ConfigInvalid: No API key granted.
            RetryableError: PostHog could not answer.
        """
        key, client = _client(context, config)
        distinct_id, properties = inputs.distinct_id, inputs.person_properties
        if not config.personal_data:
            distinct_id, properties = pseudonym(distinct_id, key), _scrub(properties)
        with client.lock:
            errors = _sdk_errors.count
            flags = client.posthog.get_all_flags(
                distinct_id,
                groups=inputs.groups or None,
                person_properties=properties or None,
                disable_geoip=True,
                flag_keys_to_evaluate=inputs.flags,
            )
            if flags is None or _sdk_errors.count != errors:
                raise RetryableError(
                    f"PostHog at {str(config.host).rstrip('/')} did not answer the flags request "
                    f"({_sdk_errors.last or 'no answer'}); check that it is up and the project API key is right"
                )
        return FlagsOutput(flags={name: value for name, value in flags.items() if isinstance(value, bool | str)})
