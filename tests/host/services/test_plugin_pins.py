"""Applying a checked upgrade re-pins saved workflows; one rollback restores the pins it replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthral.engine.model import Workflow
from synthral.engine.repository import WorkflowNotFound
from synthral.errors import InputInvalid, NothingToRollBack, UpgradeNotClean
from synthral.store.db import Database
from tests.support.upgrades import greeter, upgrade_env

pytestmark = pytest.mark.slow


async def test_an_unclean_upgrade_is_refused_then_applied_when_accepted_and_rolled_back(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels) as env:
        with pytest.raises(UpgradeNotClean, match="3 changed, 2 failing and 4 incompatible") as refused:
            await env.upgrades.apply("upgrady", "2.0.0", source=str(env.v2))
        assert refused.value.details["report"]["counts"]["identical"] == 2  # type: ignore[index,call-overload]
        assert await env.pinned("everything") == (1, "1.0.0")  # nothing was re-pinned
        assert await env.pinned("greeter") == (1, "1.0.0")

        applied = await env.upgrades.apply("upgrady", "2.0.0", workflows=["greeter"], accept_changes=True)
        assert [(w.workflow, w.from_version, w.to_version, w.workflow_version) for w in applied.workflows] == [
            ("greeter", "1.0.0", "2.0.0", 2)
        ]
        assert await env.pinned("greeter") == (2, "2.0.0")
        assert await env.pinned("everything") == (1, "1.0.0")  # not chosen
        assert (await env.run("greeter", {"name": "Ada"}))["greet"] == {"greeting": "Hello, Ada!"}

        back = await env.upgrades.rollback("upgrady")
        assert [(w.workflow, w.to_version, w.workflow_version) for w in back.workflows] == [("greeter", "1.0.0", 3)]
        assert await env.pinned("greeter") == (3, "1.0.0")
        assert (await env.run("greeter", {"name": "Ada"}))["greet"] == {"greeting": "Hello, Ada"}
        with pytest.raises(NothingToRollBack, match="no upgrade of plugin upgrady is in force"):
            await env.upgrades.rollback("upgrady")


async def test_a_clean_upgrade_re_pins_every_workflow_using_the_plugin(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels, history=False) as env:
        applied = await env.upgrades.apply("upgrady", "2.0.0", source=str(env.v2))
        assert applied.report is not None and applied.report.clean  # no history: nothing differs
        assert sorted(w.workflow for w in applied.workflows) == ["everything", "greeter"]
        assert await env.pinned("unrelated") == (1, None)
        again = await env.upgrades.apply("upgrady", "2.0.0")
        assert again.workflows == [] and len(again.skipped) == 2
        back = await env.upgrades.rollback("upgrady")
        assert sorted(w.workflow for w in back.workflows) == ["everything", "greeter"]
        assert await env.pinned("everything") == (3, "1.0.0")


async def test_rollback_undoes_the_latest_apply_first_and_leaves_workflows_saved_since_alone(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels, history=False) as env:
        await env.upgrades.apply("upgrady", "2.0.0", source=str(env.v2), workflows=["greeter", "everything"])
        await env.upgrades.apply("upgrady", "1.0.0", workflows=["everything"])  # a later apply, back to 1.0.0
        back = await env.upgrades.rollback("upgrady")  # undoes the later one only
        assert [(w.workflow, w.to_version) for w in back.workflows] == [("everything", "2.0.0")]
        edited = greeter()
        edited["nodes"][0]["version"] = "1.0.0"  # someone saved it against 1.0.0 meanwhile
        await env.workflows.save(Workflow.model_validate(edited))
        back = await env.upgrades.rollback("upgrady")
        assert [w.workflow for w in back.workflows] == ["everything"]
        assert back.skipped[0]["workflow"] == "greeter" and "no longer pins 2.0.0" in str(back.skipped[0]["why"])
        assert await env.pinned("everything") == (5, "1.0.0")


async def test_workflows_not_using_the_plugin_or_unknown_are_refused_by_name(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    async with upgrade_env(database, tmp_path / "home", wheelhouse, fixture_wheels, history=False) as env:
        with pytest.raises(InputInvalid, match="workflow 'unrelated' does not use plugin upgrady"):
            await env.upgrades.apply("upgrady", "2.0.0", source=str(env.v2), workflows=["greeter", "unrelated"])
        with pytest.raises(WorkflowNotFound, match="no workflow 'nope' here"):
            await env.upgrades.apply("upgrady", "2.0.0", workflows=["nope"])
        assert await env.pinned("greeter") == (1, "1.0.0")
        with pytest.raises(NothingToRollBack):
            await env.upgrades.rollback("upgrady")
