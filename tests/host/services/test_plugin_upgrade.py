"""Upgrade checks replay recorded steps of real runs against a new plugin version in its own venv."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import delete

from synthral.engine.model import Workflow
from synthral.errors import ApprovalRequired, InputInvalid, InstallError, PluginNotFound
from synthral.store.ai_tables import AGENT_TASK_LOG
from synthral.store.db import Database
from synthral_sdk.testing_llm import OpenAIStandIn, Reply
from tests.support.engine import chain
from tests.support.plugins import build_wheel
from tests.support.settings import FIXTURES
from tests.support.upgrades import TOKEN, agent_loops_copy, agent_upgrade_env, upgrade_env

pytestmark = pytest.mark.slow


async def test_a_check_sorts_replayed_steps_into_identical_changed_failing_and_incompatible(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels) as env:
        report = await env.upgrades.check("upgrady", "2.0.0", source=str(env.v2), samples=5)

        assert [info.version for info in env.plugins.plugin_versions("upgrady")] == ["1.0.0", "2.0.0"]
        by = {(s.capability, s.outcome.value) for s in report.samples}
        assert by == {
            ("greet", "changed"),
            ("divide", "failing"),
            ("shout", "incompatible"),
            ("count", "incompatible"),
            ("secret", "identical"),
        }
        assert report.counts() == {"identical": 2, "changed": 3, "failing": 2, "incompatible": 4}
        assert report.from_versions == ["1.0.0"] and not report.clean
        assert report.removed == ["shout"]
        greets = [s for s in report.samples if s.capability == "greet"]
        assert [s.workflow for s in greets] == ["greeter", "everything", "everything"]  # newest first
        assert greets[0].diff == [{"op": "replace", "path": "/greeting", "value": "Hello, Linus!"}]
        [divide, _] = [s for s in report.samples if s.capability == "divide"]
        assert divide.error_type == "ValueError" and "broken in version 2" in divide.reason
        shout = next(s for s in report.samples if s.capability == "shout")
        assert "has no capability 'shout'" in shout.reason
        count = next(s for s in report.samples if s.capability == "count")
        assert "input schema" in count.reason and "'step' is a required property" in count.reason
        assert TOKEN not in orjson.dumps(report.to_json()).decode()  # masked on both sides, never shown


async def test_samples_per_capability_limit_the_replay_to_the_newest_steps(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels) as env:
        report = await env.upgrades.check("upgrady", "2.0.0", samples=1)  # from the index (find-links)
        assert sorted(s.capability for s in report.samples) == ["count", "divide", "greet", "secret", "shout"]
        greet = next(s for s in report.samples if s.capability == "greet")
        assert greet.workflow == "greeter"
        with pytest.raises(InputInvalid, match="samples must be between 1 and 100"):
            await env.upgrades.check("upgrady", "2.0.0", samples=0)


async def test_a_plugin_without_history_gets_a_report_saying_so(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels, history=False) as env:
        report = await env.upgrades.check("upgrady", "2.0.0", source=str(env.v2))
        assert report.samples == [] and report.clean
        assert "no completed steps of upgrady are recorded" in report.notes[0]
        assert any("upgrady/shout is gone in 2.0.0" in note for note in report.notes)


async def test_unknown_plugins_and_uninstallable_versions_are_refused_by_name(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels, history=False) as env:
        with pytest.raises(PluginNotFound, match="no plugin nosuch is installed"):
            await env.upgrades.check("nosuch", "2.0.0")
        with pytest.raises(InstallError, match=r"upgrady 3\.0\.0 cannot be installed for the upgrade check"):
            await env.upgrades.check("upgrady", "3.0.0", source=str(tmp_path / "missing-3.0.0.whl"))
        with pytest.raises(InstallError, match=r"holds noop 1\.0\.0, not upgrady 2\.0\.0; nothing of it was kept"):
            await env.upgrades.check("upgrady", "2.0.0", source=str(fixture_wheels["noop"]))
        assert [info.name for info in env.plugins.plugins() if info.name == "noop"] == []  # not installed at all
        with pytest.raises(InputInvalid, match="built into the host"):
            await env.upgrades.check("core", "9.9.9")


async def test_a_new_version_asking_for_more_needs_approval_before_anything_is_replayed(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    source = tmp_path / "upgrady-3"
    source.mkdir()
    for path in (FIXTURES / "upgrady-2").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = source / path.relative_to(FIXTURES / "upgrady-2")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "2.0.0"', 'version = "3.0.0"'))
    declared = source / "synthral_fixture_upgrady" / "synthral-plugin.toml"
    declared.write_text(declared.read_text() + 'network = "any"\n')
    wheel = await build_wheel(source, tmp_path / "dist")
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels) as env:
        with pytest.raises(ApprovalRequired, match=r"upgrady 3\.0\.0 asks for permissions that were not granted"):
            await env.upgrades.check("upgrady", "3.0.0", source=str(wheel))
        assert [info.version for info in env.plugins.plugin_versions("upgrady")] == ["1.0.0"]


async def test_a_map_nodes_per_item_calls_are_replayed_with_the_maps_inner_config(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels, history=False) as env:
        mapper = chain(
            "mapper",
            {
                "id": "each",
                "type": "engine/map",
                "config": {"type": "upgrady/greet", "input": {"name": "{{ item }}"}},
                "input": {"items": ["x", "y"]},
            },
        )
        await env.workflows.save(Workflow.model_validate(mapper))
        await env.run("mapper", {})
        report = await env.upgrades.check("upgrady", "2.0.0", source=str(env.v2))
        assert sorted(str(s.diff[0]["value"]) for s in report.samples) == ["Hello, x!", "Hello, y!"]
        assert {(s.capability, s.node_id, s.outcome.value) for s in report.samples} == {("greet", "each", "changed")}


@pytest.fixture
def llm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as server:
        yield server


def echo_agent(llm: OpenAIStandIn) -> dict[str, Any]:
    """A workflow whose agent (on the belief/goal loop) may call noop/echo as 'echo'."""
    config = {
        "llm": {"provider": "llm-openai-compatible/openai", "model": "gpt-test",
                "config": {"base_url": llm.url, "max_retry_wait": 0.05}},
        "tools": [{"node": "noop/echo", "name": "echo", "description": "Echo a value"}],
        "routing": {"agent_type": "belief_goal"},
    }  # fmt: skip
    return chain(
        "echoer", {"id": "agent", "type": "agent/run", "config": config, "input": {"task": "{{ trigger.task }}"}}
    )


def script_echo_run(llm: OpenAIStandIn) -> None:
    llm.script(
        Reply.json({"beliefs": {}, "goal_met": False, "action": {"tool": "echo", "arguments": {"value": 42}},
                    "answer": ""}),
        Reply.json({"beliefs": {"echoed": 42}, "goal_met": True, "action": None, "answer": "It echoed 42."}),
    )  # fmt: skip


async def test_an_agent_task_is_replayed_from_its_record_without_asking_the_model_or_running_a_tool(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path], llm: OpenAIStandIn
) -> None:
    v2 = agent_loops_copy(tmp_path / "agent-loops-2", "0.2.0")
    async with agent_upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels) as env:
        script_echo_run(llm)
        execution_id = await env.run(echo_agent(llm), {"task": "Echo 42"})
        asked = len(llm.requests)
        assert asked == 2

        report = await env.upgrades.check("agent-loops", "0.2.0", source=str(v2))

        assert [(s.capability, s.outcome.value, s.reason) for s in report.samples] == [("beliefgoal", "identical", "")]
        assert report.from_versions == ["0.1.0"] and report.clean
        [sample] = report.samples
        assert (sample.execution_id, sample.node_id, sample.workflow) == (execution_id, "agent", "echoer")
        assert len(llm.requests) == asked  # every answer came from the record

        async with database.transaction() as connection:  # retention took the task's log
            await connection.execute(delete(AGENT_TASK_LOG))
        report = await env.upgrades.check("agent-loops", "0.2.0")

        [sample] = report.samples
        assert sample.outcome.value == "failing" and sample.error_type == "NotRecorded"
        assert "asked the host for an LLM completion (host/complete, request 1)" in sample.reason
        assert "log holds no LLM answers or tool results" in sample.reason
        assert "a check never calls a model" in sample.reason
        assert len(llm.requests) == asked


async def test_a_version_asking_the_model_something_new_is_stopped_there_and_reported_changed(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path], llm: OpenAIStandIn
) -> None:
    v2 = agent_loops_copy(tmp_path / "agent-loops-2", "0.2.0", replace=("You pursue a goal.", "You pursue a goal!"))
    async with agent_upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels) as env:
        script_echo_run(llm)
        await env.run(echo_agent(llm), {"task": "Echo 42"})
        asked = len(llm.requests)

        report = await env.upgrades.check("agent-loops", "0.2.0", source=str(v2))

        [sample] = report.samples
        assert (sample.capability, sample.outcome.value, sample.diff) == ("beliefgoal", "changed", [])
        assert sample.reason == (
            "the new version asked the model something the recorded run did not (request 1 differs); "
            "a check never calls a model"
        )
        assert not report.clean
        assert len(llm.requests) == asked
