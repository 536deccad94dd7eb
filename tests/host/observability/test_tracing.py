"""Spans reach a real OTLP/HTTP receiver, and a plugin's own spans join the host's trace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from synthral.config import EngineSettings, Settings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.errors import ConfigurationError
from synthral.observability import tracing
from synthral.observability.tracing import TraceSettings, configure_tracing, shutdown_tracing
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from tests.support.engine import chain
from tests.support.otlp import OtlpReceiver
from tests.support.settings import GRANT_ALL, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def traced_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with the traced fixture (OpenTelemetry in its own venv) and noop installed."""
    home = tmp_path_factory.mktemp("traced-home")

    async def install() -> None:
        plugins = PluginHost(make_settings(home, wheelhouse))
        await plugins.install(str(fixture_wheels["traced"]), grant=GRANT_ALL)
        await plugins.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
        await plugins.close()

    asyncio.run(install())
    return home


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "synthral-test")
        yield running
    shutdown_tracing()


@contextlib.asynccontextmanager
async def engine_on(home: Path, wheelhouse: Path, tmp_path: Path) -> AsyncIterator[WorkflowService]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'synthral.db'}")
    await database.migrate()
    plugins = PluginHost(make_settings(home, wheelhouse))
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    worker = Worker(engine, concurrency=4, poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    try:
        yield WorkflowService(database, plugins, engine)
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await plugins.close()
        await database.close()


async def _run(service: WorkflowService, data: dict[str, object]) -> str:
    saved = await service.save(Workflow.model_validate(data))
    execution_id = await service.start(saved.workflow_id, {})
    for _ in range(600):
        view = await service.execution(execution_id)
        if view.status in ExecutionStatus.TERMINAL:
            assert view.status == ExecutionStatus.COMPLETED, view.execution
            return execution_id
        await asyncio.sleep(0.05)
    raise AssertionError("the run did not finish")


async def test_a_run_exports_execution_step_and_plugin_spans_and_the_plugins_span_joins_the_trace(
    receiver: OtlpReceiver, traced_home: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    assert configure_tracing(TraceSettings.from_settings(Settings.load().observability))  # as a process starts
    async with engine_on(traced_home, wheelhouse, tmp_path) as service:
        workflow = chain(
            "traced",
            {"id": "start", "type": "core/set", "config": {"values": {"n": 4}}},
            {"id": "work", "type": "traced/work", "input": {"value": "{{ nodes.start.output.data.n }}"}},
            {"id": "echo", "type": "noop/echo", "input": {"value": 1}},
        )
        execution_id = await _run(service, workflow)
        view = await service.execution(execution_id)
    shutdown_tracing()  # flushes the batch

    (execution,) = receiver.wait_for("workflow.execution")
    assert execution.attributes["synthral.execution_id"] == execution_id
    assert execution.service == "synthral-test"
    steps = {s.attributes["synthral.node_id"]: s for s in receiver.wait_for("workflow.step", 3)}
    assert set(steps) == {"start", "work", "echo"}
    assert all(s.trace_id == execution.trace_id and s.parent_span_id == execution.span_id for s in steps.values())
    invokes = {s.attributes["synthral.capability"]: s for s in receiver.wait_for("plugin.invoke", 2)}
    rpc = invokes["traced/work"]
    assert rpc.parent_span_id == steps["work"].span_id and rpc.attributes["synthral.capability_kind"] == "node"
    # The plugin exported its own span, from its own process, as a child of the host's RPC span.
    (inside,) = receiver.wait_for("traced.work")
    assert inside.service == "plugin-traced"
    assert (inside.trace_id, inside.parent_span_id) == (execution.trace_id, rpc.span_id)
    assert inside.attributes["value"] == 4
    work_step = next(s for s in view.steps if s["node_id"] == "work")
    assert work_step["output"]["traceparent"].startswith(f"00-{execution.trace_id}-{rpc.span_id}-")


async def test_with_no_otel_variables_tracing_stays_off_and_costs_one_shared_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    assert configure_tracing(TraceSettings.from_settings(Settings.load().observability)) is False
    assert not tracing.enabled()
    assert tracing.span("a") is tracing.span("b", {"x": 1})
    with tracing.span("a"):
        assert tracing.traceparent() is None


def traces(environ: dict[str, str]) -> TraceSettings:
    """What a process started with ``environ`` traces with."""
    return TraceSettings.from_settings(Settings.load(environ).observability)


def test_otel_sdk_disabled_wins_over_an_endpoint() -> None:
    assert traces({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}).exporter is None


def test_spans_go_to_the_base_urls_traces_path_unless_a_traces_url_is_named() -> None:
    base = traces({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_SERVICE_NAME": "billing"})
    assert (base.exporter, base.endpoint, base.service_name) == ("otlp", "http://collector:4318/v1/traces", "billing")
    named = traces({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/t"})
    assert named.endpoint == "http://b/t"
    assert traces({"OTEL_TRACES_EXPORTER": "console"}).exporter == "console"


def test_an_exporter_or_protocol_the_host_does_not_ship_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError) as unknown:
        traces({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert "otlp, console or none" in unknown.value.message
    with pytest.raises(ConfigurationError) as grpc:
        traces({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert "http/protobuf" in grpc.value.message and "4318" in grpc.value.message
    assert traces({"OTEL_TRACES_EXPORTER": "none"}).exporter is None
