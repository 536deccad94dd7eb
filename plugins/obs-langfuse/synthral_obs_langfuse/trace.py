"""Send LLM calls and agent steps to Langfuse as traces, through the official ``langfuse`` SDK.

The SDK (5.x) records observations as OpenTelemetry spans and exports them over OTLP/HTTP to
``<host>/api/public/otel/v1/traces``, authenticated with HTTP basic auth (public key as user,
secret key as password), which is how Langfuse ingests traces today. Each run becomes one
trace: its id is derived from the execution id (``Langfuse.create_trace_id(seed=...)``), so
every call and step of a run lands in the same trace whichever batch carried it.

Secrets never leave: the keys are granted per call (``public_key``, ``secret_key``), and the
SDK's ``mask`` hook blanks every value under a secret-like key, anything that looks like a
bearer token or API key, and the values of the secrets this call was granted, before a span
is exported. ``capture_content: false`` drops prompts and outputs altogether.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from langfuse import Langfuse
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pydantic import BaseModel, Field, HttpUrl

from synthral_sdk import Context, Node
from synthral_sdk.errors import ConfigInvalid, RetryableError

__all__ = [
    "PUBLIC_KEY_SECRET",
    "SECRET_KEY_SECRET",
    "Masker",
    "Observation",
    "SendTraces",
    "TraceConfig",
    "TraceInput",
    "TraceOutput",
]

PUBLIC_KEY_SECRET = "public_key"  # noqa: S105 -- the secret's name, not its value
SECRET_KEY_SECRET = "secret_key"  # noqa: S105 -- the secret's name, not its value
MASK = "[masked]"
_SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|api[_-]?key|authori[sz]ation|cookie|credential|private)", re.I)
_SECRET_VALUES = re.compile(
    r"(Bearer\s+[A-Za-z0-9._~+/=-]{8,}|\b(sk|pk|rk|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{8,}|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"
)
_TYPES = {"generation": "generation", "agent_step": "agent", "tool_call": "tool", "span": "span"}
_LEVELS = {"debug": "DEBUG", "info": "DEFAULT", "warning": "WARNING", "error": "ERROR"}


class Usage(BaseModel):
    """Tokens a model call used."""

    input: int = Field(default=0, ge=0)
    output: int = Field(default=0, ge=0)


class Observation(BaseModel):
    """One LLM call or agent step, as the host recorded it."""

    type: Literal["generation", "agent_step", "tool_call", "span"] = Field(
        description="generation: an LLM call; agent_step: one step of an agent; tool_call; span: anything else."
    )
    name: str = Field(min_length=1, max_length=200, description="What it was, e.g. 'llm.complete' or 'route'.")
    execution_id: str | None = Field(default=None, description="The run; all observations of a run share a trace.")
    workflow: str | None = None
    node_id: str | None = None
    model: str | None = Field(default=None, max_length=200)
    input: Any = None
    output: Any = None
    usage: Usage | None = None
    cost_usd: float | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0)
    started_at: datetime | None = None
    level: Literal["debug", "info", "warning", "error"] = "info"
    status_message: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class TraceInput(BaseModel):
    """The observations to send."""

    observations: list[Observation] = Field(min_length=1, max_length=1000)


class TraceConfig(BaseModel):
    """Where Langfuse is and what reaches it."""

    model_config = {"extra": "forbid"}

    host: HttpUrl = Field(
        default=HttpUrl("https://cloud.langfuse.com"), description="The Langfuse server (self-hosted or cloud)."
    )
    environment: str | None = Field(default=None, max_length=40, pattern=r"^[a-z0-9_-]+$")
    release: str | None = Field(default=None, max_length=200)
    capture_content: bool = Field(default=True, description="Send prompts and outputs (masked); false drops them.")
    flush_timeout: float = Field(default=10.0, gt=0, le=60, description="Seconds to wait for the export.")


class TraceOutput(BaseModel):
    """What was sent."""

    sent: int
    trace_ids: list[str]


class Masker:
    """Blanks secrets in what an observation carries (the SDK's ``mask`` hook).

    Args:
        secrets: Values that must never be sent (the call's granted secrets).
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = sorted({value for value in secrets if len(value) >= 4}, key=len, reverse=True)

    def __call__(self, *, data: Any, **_: Any) -> Any:
        """``data`` with every secret replaced by ``[masked]``."""
        return self.value(data)

    def value(self, data: Any) -> Any:
        """Mask one value, recursively."""
        if isinstance(data, str):
            for secret in self.secrets:
                data = data.replace(secret, MASK)
            return _SECRET_VALUES.sub(MASK, data)
        if isinstance(data, dict):
            return {
                key: MASK if isinstance(key, str) and _SECRET_KEYS.search(key) else self.value(item)
                for key, item in data.items()
            }
        if isinstance(data, list | tuple):
            return [self.value(item) for item in data]
        return data


class _RecordingExporter(SpanExporter):
    """The OTLP exporter of one project, pointed at the server and keys of the current call.

    It remembers how many exports failed, so a call can tell whether its spans were taken.
    """

    def __init__(self) -> None:
        self.inner: OTLPSpanExporter | None = None
        self.target: tuple[str, str, str, float] | None = None
        self.failures = 0

    def point(self, host: str, public_key: str, secret_key: str, timeout: float) -> None:
        target = (host, public_key, secret_key, timeout)
        if target != self.target:
            if self.inner is not None:
                self.inner.shutdown()
            auth = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
            self.inner = OTLPSpanExporter(
                endpoint=f"{host}/api/public/otel/v1/traces",
                headers={"Authorization": f"Basic {auth}", "x-langfuse-public-key": public_key},
                timeout=max(1, int(timeout)),
            )
            self.target = target

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans) if self.inner is not None else SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self) -> None:
        if self.inner is not None:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis) if self.inner is not None else True


class _Project:
    """One Langfuse project (public key): the SDK keeps one span pipeline per public key in a process."""

    def __init__(self) -> None:
        self.exporter = _RecordingExporter()
        self.lock = threading.Lock()
        self.clients: dict[tuple[str, str, str | None, str | None], Langfuse] = {}

    def client(self, public_key: str, secret_key: str, host: str, config: TraceConfig) -> Langfuse:
        key = (host, secret_key, config.environment, config.release)
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = Langfuse(
                public_key=public_key,
                secret_key=secret_key,
                base_url=host,
                environment=config.environment,
                release=config.release,
                tracer_provider=TracerProvider(),  # its own: never the plugin process's global one
                span_exporter=self.exporter,
                mask=Masker([public_key, secret_key]),
                flush_at=512,
                flush_interval=60,
            )
        return client


_projects: dict[str, _Project] = {}
_projects_lock = threading.Lock()


def _project(public_key: str) -> _Project:
    with _projects_lock:
        return _projects.setdefault(public_key, _Project())


class SendTraces(Node[TraceInput, TraceOutput, TraceConfig]):
    """Send LLM calls and agent steps to Langfuse, one trace per run."""

    name = "trace"
    title = "Trace LLM calls and agent steps (Langfuse)"
    secrets = (PUBLIC_KEY_SECRET, SECRET_KEY_SECRET)

    def run(self, inputs: TraceInput, config: TraceConfig, context: Context) -> TraceOutput:
        """Record every observation, flush, and report failure if Langfuse did not take them.

        Raises:
            ConfigInvalid: The keys are not granted, or are not Langfuse keys.
            RetryableError: Langfuse did not accept the export (down, or the keys refused).
        """
        public_key = context.secrets.get(PUBLIC_KEY_SECRET) or ""
        secret_key = context.secrets.get(SECRET_KEY_SECRET) or ""
        if not public_key or not secret_key:
            raise ConfigInvalid(
                f"grant the project's API keys as the secrets {PUBLIC_KEY_SECRET!r} (pk-lf-...) and "
                f"{SECRET_KEY_SECRET!r} (sk-lf-...); Langfuse: Project settings -> API keys"
            )
        if not public_key.startswith("pk-") or not secret_key.startswith("sk-"):
            raise ConfigInvalid(
                f"the secrets {PUBLIC_KEY_SECRET!r} and {SECRET_KEY_SECRET!r} look swapped or are not Langfuse keys: "
                "the public key starts with 'pk-lf-', the secret key with 'sk-lf-'"
            )
        host = str(config.host).rstrip("/")
        masker = Masker(list(context.secrets.values()))
        project = _project(public_key)
        trace_ids: list[str] = []
        with project.lock:
            project.exporter.point(host, public_key, secret_key, config.flush_timeout)
            client = project.client(public_key, secret_key, host, config)
            failures = project.exporter.failures
            for item in inputs.observations:
                trace_ids.append(self._record(client, item, config, masker))
            client.flush()
            if project.exporter.failures != failures:
                raise RetryableError(
                    f"Langfuse at {host} did not accept the traces; check that it is up "
                    "and that the keys belong to the project"
                )
        context.log.info("sent %d observation(s) to Langfuse", len(inputs.observations))
        return TraceOutput(sent=len(inputs.observations), trace_ids=sorted(set(trace_ids)))

    @staticmethod
    def _record(langfuse: Langfuse, item: Observation, config: TraceConfig, masker: Masker) -> str:
        trace_id = Langfuse.create_trace_id(seed=f"synthral:{item.execution_id}") if item.execution_id else None
        trace_id = trace_id or Langfuse.create_trace_id()
        metadata: dict[str, Any] = {
            **item.metadata,
            **{f"synthral.{name}": value for name, value in (
                ("execution_id", item.execution_id), ("workflow", item.workflow), ("node_id", item.node_id),
                ("started_at", item.started_at.isoformat() if item.started_at else None),
            ) if value is not None},
        }  # fmt: skip
        content: dict[str, Any] = (
            {"input": masker.value(item.input), "output": masker.value(item.output)} if config.capture_content else {}
        )
        generation: dict[str, Any] = {}
        if item.type == "generation":
            generation = {"model": item.model}
            if item.usage is not None:
                usage = {"input": item.usage.input, "output": item.usage.output}
                generation["usage_details"] = usage | {"total": item.usage.input + item.usage.output}
            if item.cost_usd is not None:
                generation["cost_details"] = {"total": item.cost_usd}
        observation = langfuse.start_observation(
            trace_context={"trace_id": trace_id},
            name=item.name,
            as_type=_TYPES[item.type],  # type: ignore[arg-type] -- one of the SDK's observation types
            metadata=masker.value(metadata),
            level=_LEVELS[item.level],  # type: ignore[arg-type] -- one of the SDK's levels
            status_message=masker.value(item.status_message) if item.status_message else None,
            **content,
            **generation,
        )
        end = time.time_ns() + int((item.latency_ms or 0) * 1_000_000)
        observation.end(end_time=end)
        return trace_id
