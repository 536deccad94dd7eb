"""The host's settings: one tree, read once from the environment, passed down.

:meth:`Settings.load` reads every variable at once (through pydantic-settings) into nine
sections — ``plugins``, ``engine``, ``server``, ``security``, ``limits``, ``ocr``, ``rag``,
``copilot``, ``observability`` — plus ``home``.
Nothing else in the host reads ``os.environ`` for a setting: a process loads its
:class:`Settings` when it starts and hands it (or a section of it) to what it builds.
Each field names its variable (``env``); :func:`variables` lists them all, which is what
docs/configuration.md documents (a test keeps the two in step).

A bad value stops the start with a :class:`~synthral.errors.ConfigurationError` naming the
variable, the value's problem and the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, cast
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from synthral.errors import ConfigurationError
from synthral.plugins.sigstore_bundles import SigstoreIdentity
from synthral.plugins.trust_settings import SandboxMode, SignaturePolicy
from synthral_sdk.permissions import CREDENTIAL_KINDS

__all__ = [
    "CopilotServerSettings",
    "EngineSettings",
    "LimitSettings",
    "OCRSettings",
    "ObservabilitySettings",
    "PluginSettings",
    "RAGSettings",
    "SandboxSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SupplyChainSettings",
    "Variable",
    "normalize_origin",
    "variable_key",
    "variables",
]

STEP_SECRET_PREFIX = "SYNTHRAL_SECRET_"  # noqa: S105 -- a variable name, not a secret
"""``SYNTHRAL_SECRET_<NAME>`` holds a secret a step may be granted (local mode)."""
EGRESS_ALLOW_VARIABLE = "SYNTHRAL_EGRESS_ALLOW"
"""``SYNTHRAL_EGRESS_ALLOW`` (and ``_<WORKSPACE>``): what plugins may reach besides public addresses."""
STORE_CREDENTIAL_PREFIX = "SYNTHRAL_SECRET_STORE_CREDENTIAL_"
"""``SYNTHRAL_SECRET_STORE_CREDENTIAL_<NAME>`` holds a login field of an external secret store."""
CREDENTIAL_KIND_PREFIX = "SYNTHRAL_CREDENTIAL_KIND_"
"""``SYNTHRAL_CREDENTIAL_KIND_<NAME>`` declares the kind of a credential the host does not store."""


OBS_SINKS: tuple[str, ...] = ("langfuse", "posthog", "glitchtip", "wazuh")
"""The obs plugins the host can forward events to (``SYNTHRAL_OBS_FORWARD``)."""


def variable_key(name: str) -> str:
    """A secret's name as the ``<NAME>`` of its variables reads: lower-case, ``-`` and ``.`` as ``_``.

    ``stripe-key`` and ``Stripe.Key`` both become ``stripe_key``, the key of
    ``SYNTHRAL_SECRET_STRIPE_KEY`` in ``security.step_secrets`` and of
    ``SYNTHRAL_CREDENTIAL_KIND_STRIPE_KEY`` in ``security.secret_kinds``.
    """
    return name.lower().replace("-", "_").replace(".", "_")


def _env(variable: str, default: Any = ..., *, description: str, **constraints: Any) -> Any:
    """A settings field read from ``variable``."""
    return Field(default, description=description, json_schema_extra={"env": variable}, **constraints)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PluginSettings(_Section):
    """Installing and running plugins."""

    wheelhouse: Path | None = _env(
        "SYNTHRAL_WHEELHOUSE",
        None,
        description="where the SDK wheel for plugin venvs is kept ($SYNTHRAL_HOME/wheelhouse)",
    )
    sdk_wheel: Path | None = _env("SYNTHRAL_SDK_WHEEL", None, description="use this SDK wheel for plugin venvs")
    find_links: tuple[Path, ...] = _env(
        "SYNTHRAL_FIND_LINKS", (), description="extra folders of wheels for installs (':'-separated)"
    )
    registry: Path | None = _env(
        "SYNTHRAL_REGISTRY", None, description="the first-party catalog (the checkout's plugin_registry.toml)"
    )
    start_timeout: float = _env("SYNTHRAL_PLUGIN_START_TIMEOUT", 20.0, gt=0, description="seconds to answer initialize")
    call_timeout: float = _env("SYNTHRAL_PLUGIN_CALL_TIMEOUT", 300.0, gt=0, description="default seconds per call")
    idle_timeout: float = _env(
        "SYNTHRAL_PLUGIN_IDLE_TIMEOUT", 300.0, gt=0, description="seconds without calls before a process stops"
    )
    cancel_grace: float = _env(
        "SYNTHRAL_PLUGIN_CANCEL_GRACE", 10.0, ge=0, description="seconds a cancelled call may run on before a restart"
    )
    runner_threads: int = _env(
        "SYNTHRAL_RUNNER_THREADS", 8, ge=1, le=256, description="threads per plugin process for synchronous operations"
    )

    @field_validator("find_links", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(part) for part in value.split(os.pathsep) if part)
        return value


class EngineSettings(_Section):
    """Runs, workers and history."""

    database_url: str | None = _env(
        "SYNTHRAL_DATABASE_URL",
        None,
        description="postgresql://user:password@host/db for teams (the SQLite file in $SYNTHRAL_HOME)",
    )
    worker_concurrency: int = _env("WORKFLOW_WORKER_CONCURRENCY", 10, ge=1, description="runs a worker runs at once")
    lease_seconds: float = _env(
        "WORKFLOW_LEASE_SECONDS", 30.0, gt=0, description="how long a claim lasts without a write or a heartbeat"
    )
    max_retries: int = _env("WORKFLOW_MAX_RETRIES", 3, ge=0, description="default retries per step")
    retry_initial_interval: float = _env(
        "WORKFLOW_RETRY_INITIAL_INTERVAL", 1.0, ge=0, description="default seconds before the first retry"
    )
    retry_backoff_multiplier: float = _env(
        "WORKFLOW_RETRY_BACKOFF_MULTIPLIER", 2.0, ge=1, description="default back-off coefficient"
    )
    retry_max_interval: float = _env(
        "WORKFLOW_RETRY_MAX_INTERVAL", 60.0, ge=0, description="default longest wait between attempts, in seconds"
    )
    history_retention_days: float = _env(
        "WORKFLOW_HISTORY_RETENTION_DAYS", 30.0, ge=0, description="days of finished runs kept (fractions allowed)"
    )


class ServerSettings(_Section):
    """The HTTP API and single sign-on."""

    host: str = _env("SYNTHRAL_HOST", "127.0.0.1", description="the address synthral serve listens on")
    port: int = _env("SYNTHRAL_PORT", 8000, ge=0, le=65535, description="the port synthral serve listens on")
    public_url: str | None = _env(
        "SYNTHRAL_PUBLIC_URL", None, description="the URL people and providers reach the server at (http://HOST:PORT)"
    )
    oidc_issuer: str | None = _env("SYNTHRAL_OIDC_ISSUER", None, description="single sign-on: the provider's issuer")
    oidc_client_id: str | None = _env("SYNTHRAL_OIDC_CLIENT_ID", None, description="single sign-on: this server's id")
    oidc_client_secret: SecretStr | None = _env(
        "SYNTHRAL_OIDC_CLIENT_SECRET", None, description="single sign-on: its secret"
    )
    oidc_scopes: str = _env("SYNTHRAL_OIDC_SCOPES", "openid email profile", description="single sign-on: scopes")
    oidc_auto_create: str = _env(
        "SYNTHRAL_OIDC_AUTO_CREATE", "", description="single sign-on: give unknown people an account (yes/no)"
    )
    web_root: Path | None = _env(
        "SYNTHRAL_WEB_ROOT",
        None,
        description="the built web app to serve (the wheel's copy or the checkout's web/dist)",
    )


class SecuritySettings(_Section):
    """Keys and where step secrets come from."""

    secret_keys: SecretStr | None = _env(
        "SYNTHRAL_SECRET_KEYS", None, description="credential keys 'id:base64,…', the primary first (rotation)"
    )
    secret_key: SecretStr | None = _env("SYNTHRAL_SECRET_KEY", None, description="one credential key (base64)")
    secret_key_file: Path | None = _env(
        "SYNTHRAL_SECRET_KEY_FILE", None, description="a file of credential keys ($SYNTHRAL_HOME/secret.key)"
    )
    jwt_secret: SecretStr | None = _env(
        "SYNTHRAL_JWT_SECRET", None, description="the access token signing key ($SYNTHRAL_HOME/jwt.key)"
    )
    secret_store: str = _env(
        "SYNTHRAL_SECRET_STORE", "", description="'local', or PLUGIN/CAPABILITY of a secret-store plugin"
    )
    secret_store_config: str = _env("SYNTHRAL_SECRET_STORE_CONFIG", "", description="that store's config (JSON)")
    secret_store_credentials: dict[str, SecretStr] = _env(
        STORE_CREDENTIAL_PREFIX + "<NAME>",
        {},
        description="the store's login field <name> (e.g. CLIENT_ID) when no workspace credential holds it",
    )
    step_secrets: dict[str, SecretStr] = _env(
        STEP_SECRET_PREFIX + "<NAME>",
        {},
        description="a secret granted to steps that list <name> in secrets, for workflows outside a workspace",
    )
    secret_kinds: dict[str, str] = _env(
        CREDENTIAL_KIND_PREFIX + "<NAME>",
        {},
        description="the kind (secret, api_key, basic or oauth2) of the credential <name> when it comes from "
        "SYNTHRAL_SECRET_<NAME> or an external secret store",
    )
    egress_allow: str = _env(
        EGRESS_ALLOW_VARIABLE,
        "",
        description="networks, addresses or host names every workspace's plugins may reach besides public ones",
    )
    egress_allow_workspaces: dict[str, str] = _env(
        EGRESS_ALLOW_VARIABLE + "_<NAME>",
        {},
        description="the same for the workspace whose slug is <name> (upper-cased, '-' as '_')",
    )

    @field_validator("secret_kinds")
    @classmethod
    def _kinds(cls, value: dict[str, str]) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for name, raw in value.items():
            text = raw.strip()
            if not text:  # an empty variable counts as unset
                continue
            key = variable_key(name.strip())
            if text.lower() not in CREDENTIAL_KINDS:
                # A long value is more likely a secret pasted into the wrong variable than a kind: not echoed.
                shown = repr(text) if len(text) <= 32 else f"a value of {len(text)} characters"
                raise ValueError(
                    f"{CREDENTIAL_KIND_PREFIX}{key.upper()} (security.secret_kinds[{key!r}]) is {shown}, which is "
                    f"not a kind of credential; set it to one of {', '.join(CREDENTIAL_KINDS)}, the kinds a plugin's "
                    "secrets grant names"
                )
            kinds[key] = text.lower()
        return kinds


class LimitSettings(_Section):
    """How much one request (and one client) may ask of the server."""

    max_body: int = _env("SYNTHRAL_LIMIT_MAX_BODY", 1024 * 1024, ge=1, description="bytes in a request body")
    max_upload: int = _env(
        "SYNTHRAL_LIMIT_MAX_UPLOAD", 100 * 1024 * 1024, ge=1, description="bytes in an upload (a plugin wheel)"
    )
    max_json_depth: int = _env("SYNTHRAL_LIMIT_MAX_JSON_DEPTH", 64, ge=1, description="nesting of a JSON body")
    ip_rate: float = _env("SYNTHRAL_LIMIT_IP_RATE", 200.0, gt=0, description="requests per second per address")
    ip_burst: float = _env("SYNTHRAL_LIMIT_IP_BURST", 400.0, ge=1, description="burst per address")
    user_rate: float = _env("SYNTHRAL_LIMIT_USER_RATE", 100.0, gt=0, description="requests per second per user or key")
    user_burst: float = _env("SYNTHRAL_LIMIT_USER_BURST", 200.0, ge=1, description="burst per user or key")
    login_rate: float = _env("SYNTHRAL_LIMIT_LOGIN_RATE", 0.5, gt=0, description="sign-ins per second per address")
    login_burst: float = _env("SYNTHRAL_LIMIT_LOGIN_BURST", 10.0, ge=1, description="sign-in burst per address")
    code_cpu_seconds_per_day: float = _env(
        "SYNTHRAL_CODE_CPU_SECONDS_PER_DAY",
        3600.0,
        ge=0,
        description="CPU seconds of sandboxed code per workspace per UTC day, unless an owner sets its own",
    )


class OCRSettings(_Section):
    """The OCR API: what is read during the request, batch size, the operator's engine settings."""

    sync_max_bytes: int = _env(
        "SYNTHRAL_OCR_SYNC_MAX_BYTES", 5 * 1024 * 1024, ge=1, description="documents up to this size are read inline"
    )
    batch_max: int = _env("SYNTHRAL_OCR_BATCH_MAX", 100, ge=1, description="documents one batch may hold")
    engine_configs: dict[str, dict[str, JsonValue]] = _env(
        "SYNTHRAL_OCR_ENGINES",
        {},
        description='config per engine name as JSON, e.g. {"doctr": {"weights_dir": "/models/doctr"}}',
    )

    @field_validator("engine_configs", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not JSON ({exc}); give a JSON object of objects") from None
        return value


class RAGSettings(_Section):
    """Retrieval: store configs for indexes that give none, the default embedder, the answers' endpoint."""

    store_configs: dict[str, dict[str, JsonValue]] = _env(
        "SYNTHRAL_RAG_STORES",
        {},
        description='config per vector store name as JSON, e.g. {"weaviate": {"url": "http://..."}}',
    )
    default_embedder: str = _env(
        "SYNTHRAL_RAG_EMBEDDER", "embed-model2vec/model2vec", description="the embedder of indexes that name none"
    )
    llm_base_url: str = _env(
        "SYNTHRAL_RAG_LLM_BASE_URL", "", description="an OpenAI-compatible endpoint rag/answer asks (with _MODEL)"
    )
    llm_model: str = _env("SYNTHRAL_RAG_LLM_MODEL", "", description="the model rag/answer asks at that endpoint")
    llm_api_key: SecretStr | None = _env("SYNTHRAL_RAG_LLM_API_KEY", None, description="that endpoint's API key")

    @field_validator("store_configs", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(
                    f"not JSON ({exc}); give a JSON object mapping store names to config objects"
                ) from None
        return value

    @model_validator(mode="after")
    def _model_with_endpoint(self) -> Self:
        if self.llm_base_url and not self.llm_model:
            raise ValueError("SYNTHRAL_RAG_LLM_BASE_URL is set but SYNTHRAL_RAG_LLM_MODEL is not; set both")
        return self


class CopilotServerSettings(_Section):
    """The chat copilot's defaults for workspaces whose owner has set none (docs/copilot.md)."""

    llm: dict[str, JsonValue] | None = _env(
        "SYNTHRAL_COPILOT_LLM",
        None,
        description='its LLM as JSON, e.g. {"provider": "llm-openai-compatible/openai", "model": "gpt-4o-mini", '
        '"config": {...}}',
    )
    secrets: tuple[str, ...] = _env(
        "SYNTHRAL_COPILOT_SECRETS", (), description="workspace credentials its LLM calls are granted (','-separated)"
    )
    code_runtime: str | None = _env(
        "SYNTHRAL_COPILOT_CODE_RUNTIME", None, description="the code runtime of its code mode (code-wasi/wasi)"
    )
    embed_origins: tuple[str, ...] = _env(
        "SYNTHRAL_COPILOT_EMBED_ORIGINS",
        (),
        description="origins whose pages may embed the chat widget and call /api/v1/chat "
        "(','-separated, e.g. https://shop.example.com)",
    )

    @field_validator("llm", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not JSON ({exc}); give a JSON object with provider, model and config") from None
        return value

    @field_validator("secrets", "embed_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("embed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalize_origin(origin) for origin in value)


def normalize_origin(text: str) -> str:
    """An origin as browsers send it (``scheme://host[:port]``, lower case, no default port).

    Raises:
        ValueError: ``text`` is not an origin (or is ``*``); the message says how to write one.
    """
    parts = urlsplit(text.strip())
    if text.strip() == "*":
        raise ValueError("'*' would let every site use the chat with a key; list each origin, e.g. https://a.example")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an origin; write scheme://host[:port], e.g. https://shop.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{text!r} has more than an origin; keep only scheme://host[:port] (no path)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has a bad port; write scheme://host[:port]") from None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


class ObservabilitySettings(_Section):
    """Logs, metrics and traces (docs/observability.md).

    The ``OTEL_*`` fields are the OpenTelemetry variables the host itself reads to decide
    whether and where it traces; the exporter reads its own (headers, timeout, compression,
    certificates) and the resource ``OTEL_RESOURCE_ATTRIBUTES``, as OpenTelemetry documents.
    """

    log_format: Literal["text", "json"] = _env(
        "SYNTHRAL_LOG_FORMAT", "text", description="'json': stderr in the JSON lines of the home's log file too"
    )
    metrics_token: SecretStr | None = _env(
        "SYNTHRAL_METRICS_TOKEN", None, description="the bearer token a metrics scrape must send (else loopback only)"
    )
    metrics_dir: Path | None = _env(
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        description="an empty folder where several processes on one machine keep their series (prometheus_client)",
    )
    traces_exporter: str = _env(
        "OTEL_TRACES_EXPORTER", "", description="otlp, console or none (otlp when an OTLP endpoint is set)"
    )
    otlp_endpoint: str = _env(
        "OTEL_EXPORTER_OTLP_ENDPOINT", "", description="the collector's OTLP/HTTP base URL, e.g. http://collector:4318"
    )
    otlp_traces_endpoint: str = _env(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", description="the full URL spans go to (over the base URL)"
    )
    otlp_protocol: str = _env(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", description="the OTLP protocol; http/protobuf is shipped"
    )
    otlp_traces_protocol: str = _env(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", description="the same for spans only (over the one above)"
    )
    sdk_disabled: bool = _env("OTEL_SDK_DISABLED", False, description="'true': no traces whatever else is set")
    service_name: str = _env("OTEL_SERVICE_NAME", "synthral", description="the service name spans carry")
    forward: tuple[str, ...] = _env(
        "SYNTHRAL_OBS_FORWARD",
        (),
        description="obs plugins the host feeds by itself: langfuse, posthog, glitchtip, wazuh (','-separated)",
    )
    forward_config: dict[str, str] = _env(
        "SYNTHRAL_OBS_CONFIG_<NAME>",
        {},
        description="the config (JSON object) of the obs plugin <name> when forwarding",
    )
    forward_secrets: dict[str, str] = _env(
        "SYNTHRAL_OBS_SECRETS_<NAME>",
        {},
        description="which credentials hold <name>'s keys: secret=credential pairs, ','-separated",
    )
    forward_workspace: str = _env(
        "SYNTHRAL_OBS_WORKSPACE", "", description="the workspace whose credentials hold the obs plugins' keys"
    )
    forward_queue: int = _env(
        "SYNTHRAL_OBS_QUEUE", 10_000, ge=1, le=1_000_000, description="events waiting per obs plugin before drops"
    )

    @field_validator("log_format", "traces_exporter", "otlp_protocol", "otlp_traces_protocol", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("forward", mode="before")
    @classmethod
    def _sinks(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(name.strip().lower().removeprefix("obs-") for name in value.split(",") if name.strip())
        unknown = [name for name in value or () if name not in OBS_SINKS] if isinstance(value, tuple | list) else []
        if unknown:
            raise ValueError(f"unknown obs plugin {unknown[0]!r}; name some of {', '.join(OBS_SINKS)}")
        return value

    @field_validator("forward_config")
    @classmethod
    def _config_json(cls, value: dict[str, str]) -> dict[str, str]:
        for name, raw in value.items():
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"SYNTHRAL_OBS_CONFIG_{name.upper()} is not JSON ({exc}); give a JSON object"
                ) from None
            if not isinstance(parsed, dict):
                raise ValueError(  # noqa: TRY004 -- pydantic reports a ValueError as the setting's problem
                    f"SYNTHRAL_OBS_CONFIG_{name.upper()} must be a JSON object of the plugin's config"
                )
        return value

    @field_validator("forward_secrets")
    @classmethod
    def _secret_pairs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, raw in value.items():
            for pair in filter(None, (part.strip() for part in raw.split(","))):
                secret, _, credential = pair.partition("=")
                if not secret.strip() or not credential.strip():
                    raise ValueError(
                        f"SYNTHRAL_OBS_SECRETS_{name.upper()}: {pair!r} is not secret=credential; "
                        "write e.g. public_key=langfuse-public,secret_key=langfuse-secret"
                    )
        return value


class SandboxSettings(_Section):
    """How plugin processes are confined (docs/plugin-security.md).

    Where their connections may go is the egress policy's (:mod:`synthral.security.egress`),
    the same for the sandbox's proxy as for the SDK's clients.
    """

    mode: SandboxMode = _env(
        "SYNTHRAL_PLUGIN_SANDBOX", SandboxMode.REQUIRED, description="required, if-available or off"
    )
    bwrap: str | None = _env("SYNTHRAL_BWRAP", None, description="the bubblewrap binary (found on the PATH)")
    memory_mb: int = _env(
        "SYNTHRAL_PLUGIN_MEMORY_MB", 1024, ge=16, description="memory of a plugin that declares none, in MB"
    )
    cpu: float = _env("SYNTHRAL_PLUGIN_CPU", 1.0, gt=0, description="cores of a plugin that declares none")
    max_processes: int = _env(
        "SYNTHRAL_PLUGIN_MAX_PROCESSES", 256, ge=1, description="processes and threads per plugin process tree"
    )
    cgroup: str = _env(
        "SYNTHRAL_PLUGIN_CGROUP", "auto", description="auto (v1 groups where writable), off, or a cgroup v2 folder"
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class SupplyChainSettings(_Section):
    """What a plugin wheel must prove before it is installed (docs/plugin-security.md)."""

    signatures: SignaturePolicy = _env(
        "SYNTHRAL_PLUGIN_SIGNATURES",
        SignaturePolicy.NONE,
        description="none, keys (wheels need a trusted key's signature) or sigstore (a trusted signer's "
        "Sigstore bundle)",
    )
    trusted_keys: tuple[Path, ...] = _env(
        "SYNTHRAL_PLUGIN_TRUSTED_KEYS", (), description="PEM public keys (files or folders, ':'-separated)"
    )
    sigstore_identities: tuple[SigstoreIdentity, ...] = _env(
        "SYNTHRAL_PLUGIN_SIGSTORE_IDENTITIES",
        (),
        description='who may sign plugins with Sigstore, as JSON: [{"identity": "...", "issuer": "..."}]; an '
        "identity ending in '*' matches any suffix (every tag of a release workflow)",
    )
    sigstore_trusted_root: Path | None = _env(
        "SYNTHRAL_PLUGIN_SIGSTORE_TRUSTED_ROOT",
        None,
        description="Sigstore's trusted root (JSON) to verify bundles with; the one sigstore-python ships if unset",
    )
    index_url: str = _env(
        "UV_DEFAULT_INDEX",
        "default",
        description="the package index installs come from, as uv is told (UV_INDEX_URL, PIP_INDEX_URL too)",
    )

    @field_validator("signatures", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("trusted_keys", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(part).expanduser() for part in value.split(os.pathsep) if part)
        return value

    @field_validator("index_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("sigstore_identities", mode="before")
    @classmethod
    def _identities(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return ()
        fix = (
            'set SYNTHRAL_PLUGIN_SIGSTORE_IDENTITIES to a JSON list such as [{"identity": '
            '"https://github.com/acme/plugin/.github/workflows/release.yml@refs/tags/*", "issuer": '
            '"https://token.actions.githubusercontent.com"}]'
        )
        try:
            items = json.loads(value)
        except ValueError:
            raise ValueError(f"SYNTHRAL_PLUGIN_SIGSTORE_IDENTITIES is not JSON; {fix}") from None
        if not isinstance(items, list) or not all(
            isinstance(item, dict)
            and set(item) == {"identity", "issuer"}
            and all(isinstance(item[k], str) and item[k].strip() for k in item)
            for item in items
        ):
            raise ValueError(
                f"SYNTHRAL_PLUGIN_SIGSTORE_IDENTITIES needs an identity and an issuer in each entry; {fix}"
            )
        return tuple(SigstoreIdentity(identity=i["identity"].strip(), issuer=i["issuer"].strip()) for i in items)


_SECTIONS: dict[str, type[_Section]] = {
    "plugins": PluginSettings,
    "engine": EngineSettings,
    "server": ServerSettings,
    "security": SecuritySettings,
    "limits": LimitSettings,
    "ocr": OCRSettings,
    "rag": RAGSettings,
    "copilot": CopilotServerSettings,
    "observability": ObservabilitySettings,
    "sandbox": SandboxSettings,
    "supply": SupplyChainSettings,
}


def _variable(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    return str(extra["env"]) if isinstance(extra, dict) else ""


_FALLBACKS = {"UV_DEFAULT_INDEX": ("UV_INDEX_URL", "PIP_INDEX_URL")}
"""Older names of a variable, read when it is unset (uv's and pip's index variables)."""


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        raw = environ.get(name)
        if raw is not None and raw.strip() != "":
            return raw.strip()
    return None


class _Environment(PydanticBaseSettingsSource):
    """Each field from the variable it names; ``<NAME>`` families into dicts keyed by lowercase name."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: :meth:`__call__` reads every section at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        home = self.environ.get("SYNTHRAL_HOME")
        if home:
            data["home"] = home
        families = {_variable(f) for s in _SECTIONS.values() for f in s.model_fields.values()}
        named = {name for name in families if not name.endswith("<NAME>")}
        for section, model in _SECTIONS.items():
            values: dict[str, Any] = {}
            for name, field in model.model_fields.items():
                variable = _variable(field)
                if variable.endswith("<NAME>"):
                    prefix = variable.removesuffix("<NAME>")
                    values[name] = {
                        key.removeprefix(prefix).lower(): value
                        for key, value in self.environ.items()
                        if key.startswith(prefix)
                        and len(key) > len(prefix)
                        and key not in named
                        and not any(key.startswith(other.removesuffix("<NAME>")) for other in families
                                    if other != variable and other.startswith(prefix) and other.endswith("<NAME>"))
                    }  # fmt: skip
                elif (raw := _first(self.environ, variable, *_FALLBACKS.get(variable, ()))) is not None:
                    values[name] = raw
            if values:
                data[section] = values
        return data


class Settings(BaseSettings):
    """Every setting of a host process, in sections.

    Attributes:
        home: ``$SYNTHRAL_HOME``, default ``~/.synthral``: plugins, blobs, keys, the SQLite database.
        plugins: Installing and running plugins.
        engine: Runs, workers, retries and history.
        server: The HTTP API and single sign-on.
        security: Keys and secret sources.
        limits: Request limits of the API (and the default code CPU quota).
        ocr: The OCR API.
        rag: Retrieval.
        copilot: The chat copilot's server-wide defaults.
        observability: Logs, metrics and traces.
        sandbox: How plugin processes are confined.
        supply: What plugin wheels must prove to be installed.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    home: Path = _env("SYNTHRAL_HOME", Path("~/.synthral"), description="all data: plugins, blobs, keys, the database")
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    ocr: OCRSettings = Field(default_factory=OCRSettings)
    rag: RAGSettings = Field(default_factory=RAGSettings)
    copilot: CopilotServerSettings = Field(default_factory=CopilotServerSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    supply: SupplyChainSettings = Field(default_factory=SupplyChainSettings)

    _environ: ClassVar[Mapping[str, str] | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given in code first, then the environment (through the variables the fields name)."""
        del env_settings, dotenv_settings, file_secret_settings
        environ = os.environ if cls._environ is None else cls._environ
        return init_settings, _Environment(settings_cls, environ)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Self:
        home = self.home.expanduser().resolve()
        object.__setattr__(self, "home", home)
        plugins = self.plugins
        wheelhouse = (plugins.wheelhouse or home / "wheelhouse").expanduser().resolve()
        links = tuple(path.expanduser().resolve() for path in plugins.find_links)
        object.__setattr__(self, "plugins", plugins.model_copy(update={"wheelhouse": wheelhouse, "find_links": links}))
        return self

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **values: Any) -> Settings:
        """Read the settings from ``environ`` (the process's environment by default), once.

        Args:
            environ: The variables to read; ``os.environ`` when None.
            **values: Settings given in code, over the environment (``home=...``,
                ``engine={"lease_seconds": 5}``).

        Raises:
            ConfigurationError: A variable's value is not what its setting takes; the message
                names the variable and the fix.
        """
        previous = cls._environ
        cls._environ = environ
        try:
            return cls(**values)
        except ValidationError as exc:
            raise _configuration_error(exc, os.environ if environ is None else environ) from None
        finally:
            cls._environ = previous

    def replace(self, **sections: Mapping[str, Any] | Any) -> Settings:
        """A copy with some settings changed: ``replace(engine={"lease_seconds": 5}, home=path)``."""
        updates: dict[str, Any] = {}
        for name, value in sections.items():
            current = getattr(self, name)
            updates[name] = current.model_copy(update=dict(value)) if isinstance(current, _Section) else value
        return self.model_copy(update=updates)

    @property
    def wheelhouse(self) -> Path:
        """Where the SDK wheel plugin venvs get is kept."""
        return cast(Path, self.plugins.wheelhouse)

    @property
    def plugins_dir(self) -> Path:
        """Installed plugins: ``<home>/plugins/<name>/<version>/``."""
        return self.home / "plugins"

    @property
    def run_dir(self) -> Path:
        """Per-process folders of sandboxed plugin processes: ``<home>/run/plugins``."""
        return self.home / "run" / "plugins"

    @property
    def blobs_dir(self) -> Path:
        """The content-addressed blob store."""
        return self.home / "blobs"


class Variable(BaseModel):
    """One environment variable of the settings tree."""

    name: str
    setting: str
    default: str
    description: str


def variables() -> Iterator[Variable]:
    """Every variable the settings read, with the setting it fills, its default and meaning."""
    home = Settings.model_fields["home"]
    yield Variable(name=_variable(home), setting="home", default="~/.synthral", description=str(home.description))
    for section, model in _SECTIONS.items():
        for name, field in model.model_fields.items():
            default = field.default
            shown = "" if default in (None, "", (), {}) else str(default)
            yield Variable(
                name=_variable(field), setting=f"{section}.{name}", default=shown, description=str(field.description)
            )


def _configuration_error(error: ValidationError, environ: Mapping[str, str]) -> ConfigurationError:
    problems = []
    for item in error.errors(include_url=False):
        location = [str(part) for part in item["loc"]]
        model: type[BaseModel] = _SECTIONS.get(location[0], Settings) if location else Settings
        field = model.model_fields.get(location[1] if len(location) > 1 and model is not Settings else location[0])
        variable = _variable(field) if field is not None else ".".join(location)
        raw = environ.get(variable)
        hidden = any(word in variable for word in ("SECRET", "KEY", "TOKEN"))
        shown = f"={raw!r}" if raw is not None and not hidden else ""
        problems.append(f"{variable}{shown}: {item['msg']}")
    return ConfigurationError(
        "the settings are wrong: " + "; ".join(problems) + "; fix or unset the variable (docs/configuration.md)",
        details={"variables": [p.split(":", 1)[0].split("=", 1)[0] for p in problems]},
    )
