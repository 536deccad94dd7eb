"""Forwarding: the host feeds the enabled obs plugins by itself, never blocking or failing a run."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from synthral.config import Settings
from synthral.engine.model import Workflow
from synthral.engine.runtime import EnvSecretResolver
from synthral.errors import ConfigurationError
from synthral.observability import forward
from synthral.observability.metrics import REGISTRY
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.runtime import HostRuntime
from synthral.services.audit import AuditLog
from synthral.services.llm import CallScope, LLMChoice
from synthral.services.obs_forward import ObsForwarder
from synthral.store.tables import WORKSPACE, ExecutionStatus, utcnow
from synthral_sdk import ChatMessage, CompletionRequest, CompletionResult
from synthral_sdk._ai import Usage
from tests.support.engine import chain
from tests.support.obs_standins import (
    LANGFUSE_PUBLIC,
    LANGFUSE_SECRET,
    POSTHOG_KEY,
    ObsStandIns,
    SyslogListener,
)
from tests.support.settings import GRANT_ALL, REPO

pytestmark = pytest.mark.slow

WORKSPACE_ID = "ws-obs-forward"
BROKEN = chain("nightly-sync", {"id": "sync", "type": "noop/broken"})
ECHO = chain("echo", {"id": "echo", "type": "noop/echo", "input": {"value": 1}})


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(scope="module")
def obs_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with the noop and llm-echo fixtures and the four obs plugins from the repository, made once."""
    home = tmp_path_factory.mktemp("obs-home")

    async def install() -> None:
        plugins = PluginHost(Settings.load(home=home).replace(plugins={"wheelhouse": wheelhouse}))
        await plugins.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
        await plugins.install(str(fixture_wheels["llm-echo"]), grant=GRANT_ALL)
        for name in ("obs-langfuse", "obs-posthog", "obs-glitchtip"):
            await plugins.install(str(REPO / "plugins" / name), grant=GRANT_ALL)
        await plugins.install(str(REPO / "plugins" / "obs-wazuh"), grant=GrantRequest(items=["all"]))
        await plugins.close()

    asyncio.run(install())
    return home


@pytest.fixture
def standins() -> Iterator[ObsStandIns]:
    with ObsStandIns() as server:
        yield server


@pytest.fixture
def siem() -> Iterator[SyslogListener]:
    listener = SyslogListener()
    yield listener
    listener.close()


def _settings(home: Path, wheelhouse: Path, environ: dict[str, str]) -> Settings:
    return Settings.load(environ, home=home).replace(
        plugins={"wheelhouse": wheelhouse, "call_timeout": 30.0, "idle_timeout": 300.0},
        engine={"max_retries": 0, "lease_seconds": 5.0},
    )


async def _add_workspace_credentials(runtime: HostRuntime, values: dict[str, str]) -> None:
    row = {"id": WORKSPACE_ID, "slug": WORKSPACE_ID, "name": "obs", "created_at": utcnow()}
    await runtime.app.database.write(lambda connection: connection.execute(insert(WORKSPACE).values(row)))
    for name, value in values.items():
        await runtime.app.credentials.put(WORKSPACE_ID, name, value)


async def test_a_failed_run_an_llm_call_an_agent_step_and_a_sign_in_reach_their_obs_plugins_by_themselves(
    obs_home: Path, wheelhouse: Path, standins: ObsStandIns, siem: SyslogListener
) -> None:
    settings = _settings(obs_home, wheelhouse, {
        "SYNTHRAL_OBS_FORWARD": "langfuse,posthog,glitchtip,wazuh",
        "SYNTHRAL_OBS_WORKSPACE": WORKSPACE_ID,
        "SYNTHRAL_OBS_CONFIG_LANGFUSE": json.dumps({"host": standins.url}),
        "SYNTHRAL_OBS_CONFIG_POSTHOG": json.dumps({"host": standins.url}),
        "SYNTHRAL_OBS_CONFIG_WAZUH": json.dumps({"host": "127.0.0.1", "port": siem.port}),
        "SYNTHRAL_OBS_SECRETS_LANGFUSE": "public_key=lf-public,secret_key=lf-secret",
    })  # fmt: skip
    sent_before = _sample("obs_forward_sent_total", sink="langfuse")
    async with HostRuntime(settings, worker=True, local=True) as runtime:
        await _add_workspace_credentials(runtime, {
            "lf-public": LANGFUSE_PUBLIC, "lf-secret": LANGFUSE_SECRET,
            "posthog_api_key": POSTHOG_KEY, "glitchtip_dsn": standins.dsn,
        })  # fmt: skip
        saved = await runtime.app.workflows.save(Workflow.model_validate(BROKEN))
        execution_id = await runtime.app.workflows.start(saved.workflow_id)
        view = await runtime.wait_for(execution_id, timeout=60)
        assert view.status == ExecutionStatus.FAILED  # what the user sees is unchanged

        await AuditLog(runtime.app.database).record(
            "auth.login", actor_id="user-ada", ip="203.0.113.9", details={"email": "ada@example.com"}
        )
        answer = CompletionResult(
            model="gpt-test", message=ChatMessage(role="assistant", content="Use the nightly export."),
            usage=Usage(input_tokens=12, output_tokens=5),
        )  # fmt: skip
        await runtime.app.ai.llm.record_replayed(
            CallScope(execution_id=execution_id, node_id="sync"), LLMChoice(model="gpt-test"), answer
        )
        asked = CompletionRequest(
            model="small",
            messages=[ChatMessage(role="user", content="Summarise.\n[1] source\nThe export ran at 02:00.")],
        )
        live = await runtime.app.ai.llm.complete(
            asked,
            LLMChoice(provider="llm-echo/echo", model="small"),
            secrets={},
            scope=CallScope(execution_id=execution_id, node_id="sync"),
            context=runtime.app.ai.plugins_context(30.0, None),
        )
        assert live.result.message.content == "The export ran at 02:00. [1]"
        step = {"task_id": "t-1", "seq": 1, "kind": "route", "message": "picked the sync tool"}
        runtime.app.ai.events.add(execution_id, "agent", "agent.step", step)

        (error,) = await asyncio.to_thread(standins.wait, lambda s: s.errors, 1)  # the host's loop runs meanwhile
        assert error["tags"]["synthral.execution_id"] == execution_id
        assert error["tags"]["synthral.workflow"] == "nightly-sync"
        assert error["tags"]["synthral.node_id"] == "sync"

        products = await asyncio.to_thread(standins.wait, lambda s: s.product_events, 2)
        by_name = {event["event"]: event for event in products}
        assert by_name["workflow_run_finished"]["properties"]["status"] == "failed"
        sign_in = by_name["auth_login"]
        assert sign_in["distinct_id"].startswith("anon_") and "user-ada" not in json.dumps(sign_in)
        assert "ada@example.com" not in json.dumps(products) and "203.0.113.9" not in json.dumps(products)

        spans = await asyncio.to_thread(standins.wait, lambda s: s.spans, 3)
        generations = {
            s["attributes"]["langfuse.observation.model.name"]: s
            for s in spans
            if s["attributes"].get("langfuse.observation.type") == "generation"
        }
        agent = next(s for s in spans if s["attributes"].get("langfuse.observation.type") == "agent")
        replayed, asked_live = generations["gpt-test"], generations["echo-small"]
        assert replayed["trace_id"] == agent["trace_id"] == asked_live["trace_id"]  # one run, one trace
        assert "Use the nightly export." in replayed["attributes"]["langfuse.observation.output"]
        # A call the provider answered carries the question as well as the answer.
        assert "The export ran at 02:00." in asked_live["attributes"]["langfuse.observation.input"]
        assert "The export ran at 02:00. [1]" in asked_live["attributes"]["langfuse.observation.output"]

        (line,) = [m for m in await asyncio.to_thread(siem.wait, 1) if b"auth.login" in m][:1]
        body = json.loads(re.search(rb"\{.*\}$", line).group(0))  # type: ignore[union-attr]
        assert body["synthral"]["action"] == "auth.login" and body["synthral"]["actor_id"] == "user-ada"
    assert _sample("obs_forward_sent_total", sink="langfuse") >= sent_before + 2
    assert not forward.active()  # the runtime took its receiver away when it stopped


async def test_a_sink_that_is_down_or_not_installed_costs_the_run_nothing_and_is_counted(
    obs_home: Path, noop_home: Path, wheelhouse: Path, standins: ObsStandIns
) -> None:
    standins.down.add("posthog")
    settings = _settings(obs_home, wheelhouse, {
        "SYNTHRAL_OBS_FORWARD": "posthog",
        "SYNTHRAL_OBS_CONFIG_POSTHOG": json.dumps({"host": standins.url, "flush_timeout": 2}),
        "SYNTHRAL_SECRET_POSTHOG_API_KEY": POSTHOG_KEY,
    })  # fmt: skip
    down_before = _sample("obs_forward_dropped_total", sink="posthog", reason="sink_error")
    async with HostRuntime(settings, worker=True, local=True) as runtime:
        saved = await runtime.app.workflows.save(Workflow.model_validate(ECHO))
        view = await runtime.wait_for(await runtime.app.workflows.start(saved.workflow_id), timeout=60)
        assert view.status == ExecutionStatus.COMPLETED
        for _ in range(400):
            if _sample("obs_forward_dropped_total", sink="posthog", reason="sink_error") > down_before:
                break
            await asyncio.sleep(0.1)
    assert _sample("obs_forward_dropped_total", sink="posthog", reason="sink_error") == down_before + 1
    assert standins.product_events == []

    missing_before = _sample("obs_forward_dropped_total", sink="glitchtip", reason="not_installed")
    bare = _settings(noop_home, wheelhouse, {"SYNTHRAL_OBS_FORWARD": "glitchtip"})
    async with HostRuntime(bare, worker=True, local=True) as runtime:
        saved = await runtime.app.workflows.save(Workflow.model_validate(BROKEN))
        view = await runtime.wait_for(await runtime.app.workflows.start(saved.workflow_id), timeout=60)
        assert view.status == ExecutionStatus.FAILED
    assert _sample("obs_forward_dropped_total", sink="glitchtip", reason="not_installed") == missing_before + 1


async def test_a_full_queue_drops_and_counts_instead_of_waiting(host: PluginHost) -> None:
    settings = Settings.load({"SYNTHRAL_OBS_FORWARD": "posthog,wazuh", "SYNTHRAL_OBS_QUEUE": "2"}, home=Path("/x"))
    forwarder = ObsForwarder(host, EnvSecretResolver({}), settings.observability)  # not started: nothing drains
    before = _sample("obs_forward_dropped_total", sink="posthog", reason="queue_full")
    for number in range(5):
        forwarder.offer("product", {"event": "workflow_run_finished", "n": number})
    forwarder.offer("llm_call", {"model": "m"})  # no langfuse sink enabled: not queued, not counted
    assert forwarder.pending("posthog") == 2 and forwarder.pending("wazuh") == 0
    assert _sample("obs_forward_dropped_total", sink="posthog", reason="queue_full") == before + 3
    await forwarder.close(drain=0)
    assert _sample("obs_forward_dropped_total", sink="posthog", reason="shutdown") >= 2


async def test_forwarding_is_off_until_the_operator_names_a_sink(host: PluginHost) -> None:
    assert Settings.load({}).observability.forward == ()
    assert not forward.active()
    forward.publish("product", {"event": "x"})  # a no-op without a receiver
    settings = Settings.load({"SYNTHRAL_OBS_FORWARD": "wazuh"})
    forwarder = ObsForwarder(host, EnvSecretResolver({}), settings.observability)
    forwarder.start()
    assert forward.active()
    await forwarder.close()
    assert not forward.active()


@pytest.mark.parametrize(
    ("environ", "named", "fix"),
    [
        ({"SYNTHRAL_OBS_FORWARD": "datadog"}, "SYNTHRAL_OBS_FORWARD", "langfuse, posthog, glitchtip, wazuh"),
        ({"SYNTHRAL_OBS_CONFIG_LANGFUSE": "{host"}, "SYNTHRAL_OBS_CONFIG_LANGFUSE", "JSON object"),
        ({"SYNTHRAL_OBS_CONFIG_WAZUH": "[1]"}, "SYNTHRAL_OBS_CONFIG_WAZUH", "JSON object"),
        (
            {"SYNTHRAL_OBS_SECRETS_LANGFUSE": "public_key"},
            "SYNTHRAL_OBS_SECRETS_LANGFUSE",
            "public_key=langfuse-public",
        ),
        ({"SYNTHRAL_OBS_QUEUE": "0"}, "SYNTHRAL_OBS_QUEUE", "greater than or equal to 1"),
    ],
)
def test_bad_forwarding_settings_name_the_variable_and_the_fix(environ: dict[str, str], named: str, fix: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings.load(environ)
    assert named in str(error.value) and fix in str(error.value)
