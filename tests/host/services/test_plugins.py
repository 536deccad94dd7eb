"""What saved workflows and live runs pin, so that removing a plugin version names what it breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthral.config import EngineSettings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.errors import PluginPinned
from synthral.plugins.host import PluginHost
from synthral.services.plugins import PluginService, describe_pins
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from tests.conftest import make_settings
from tests.support.engine import chain

pytestmark = pytest.mark.slow


async def test_pins_count_latest_versions_and_live_runs_of_older_ones(
    database: Database, noop_home: Path, wheelhouse: Path
) -> None:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    workflows = WorkflowService(
        database, plugins, Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    )
    service = PluginService(plugins, database)
    uses = await workflows.save(Workflow.model_validate(chain("etl", {"id": "a", "type": "noop/echo"})))
    await workflows.save(Workflow.model_validate(chain("other", {"id": "a", "type": "core/set"})))
    await workflows.start(uses.workflow_id, {})  # queued, no worker: a live run of version 1
    await workflows.start(uses.workflow_id, {})
    await workflows.save(Workflow.model_validate(chain("etl", {"id": "b", "type": "core/set"})))  # v2 drops noop

    [pin] = await service.pins("noop", ["1.0.0"])
    assert (pin.workflow, pin.workflow_version, pin.latest, pin.live_runs) == ("etl", 1, False, 2)
    assert describe_pins([pin], hidden=3) == "'etl' (version 1, 2 live runs) and 3 in other workspaces"
    assert await service.pins("noop", ["9.9.9"]) == []
    with pytest.raises(PluginPinned) as refused:
        await service.remove("noop==1.0.0")
    assert "'etl' (version 1, 2 live runs)" in refused.value.message
    assert [info.version for info in plugins.plugin_versions("noop")] == ["1.0.0"]  # nothing was removed
    await plugins.close()
