"""HostRuntime: the parts of one process started together from its settings, and waiting for a run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from synthral.config import Settings
from synthral.engine.model import Workflow
from synthral.errors import ConfigurationError
from synthral.runtime import HostRuntime
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from tests.support.engine import chain
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(database: Database, noop_home: Path, wheelhouse: Path) -> Settings:
    """The noop home's plugins, the test's database, an API on a free port."""
    return make_settings(noop_home, wheelhouse).replace(
        engine={"database_url": database.url, "lease_seconds": 5.0}, server={"port": 0}
    )


async def test_a_worker_api_and_scheduler_start_together_and_a_run_is_awaited(settings: Settings) -> None:
    workflow = chain(
        "together",
        {"id": "start", "type": "core/set", "config": {"values": {"n": 2}}},
        {"id": "echo", "type": "noop/echo", "input": {"value": "{{ nodes.start.output.data.n }}"}},
    )
    async with HostRuntime(settings, worker=True, scheduler=True, api=True, local=True) as runtime:
        assert runtime.url is not None and runtime.server is not None and runtime.scheduler is not None
        launch = {"Authorization": f"Bearer {runtime.server.launch_token}"}  # local mode: this launch's token
        async with httpx.AsyncClient(base_url=runtime.url, headers=launch) as http:
            assert (await http.get("/api/v1/health")).json() == {"status": "ok"}
        saved = await runtime.app.workflows.save(Workflow.model_validate(workflow))
        execution_id = await runtime.app.workflows.start(saved.workflow_id)
        view = await runtime.wait_for(execution_id, timeout=60)
        assert view.status == ExecutionStatus.COMPLETED and view.execution["output"]["echo"]["value"] == 2
    with pytest.raises(RuntimeError, match="not started"):
        _ = runtime.app


async def test_waiting_returns_on_a_run_that_rests_until_someone_acts(settings: Settings) -> None:
    ask = chain("ask", {"id": "ask", "type": "engine/human_input", "config": {"prompt": "OK?"}})
    async with HostRuntime(settings, worker=True) as runtime:
        saved = await runtime.app.workflows.save(Workflow.model_validate(ask))
        execution_id = await runtime.app.workflows.start(saved.workflow_id)
        waiting = await runtime.wait_for(execution_id, timeout=60)
        assert waiting.status == ExecutionStatus.WAITING
        with pytest.raises(TimeoutError, match="still waiting"):
            await runtime.wait_for(execution_id, parked=False, timeout=0.3)
        await runtime.app.workflows.signal(execution_id, signal_type="human_input", data={"answer": {"ok": True}})
        done = await runtime.wait_for(execution_id, timeout=60)
        assert done.status == ExecutionStatus.COMPLETED


async def test_a_runtime_without_parts_runs_nothing_and_stops_on_request(settings: Settings) -> None:
    async with HostRuntime(settings) as runtime:
        assert runtime.worker is None and runtime.scheduler is None and runtime.url is None
        stop = asyncio.Event()
        stop.set()
        await runtime.run_until_stopped(stop)


def test_local_mode_listens_on_loopback_only(settings: Settings) -> None:
    exposed = settings.replace(server={"host": "0.0.0.0"})
    with pytest.raises(ConfigurationError, match="loopback only"):
        HostRuntime(exposed, api=True, local=True)


async def test_a_desktop_host_mounts_its_routes_and_its_watched_folders_start_runs(
    settings: Settings, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("hello")
    files = {"name": "files", "nodes": [{"id": "pick", "type": "core/transform", "config": {"mapping": {"n": "name"}}}]}
    async with HostRuntime(settings, worker=True, api=True, desktop=True) as runtime:
        assert runtime.local and runtime.file_triggers is not None and runtime.server is not None
        assert runtime.server.public_url == runtime.url  # port 0: OAuth redirects name the port bound
        launch = {"Authorization": f"Bearer {runtime.server.launch_token}"}
        async with httpx.AsyncClient(base_url=f"{runtime.url}/api/v1", headers=launch) as http:
            created = await http.post("/workflows", json=files)
            assert created.status_code == 201, created.text
            added = await http.post("/desktop/watched-folders", json={"workflow": "files", "path": str(inbox)})
            assert added.status_code == 201, added.text
            for _ in range(600):  # the watcher fires for the file already there
                runs = await runtime.app.workflows.executions(workflow=created.json()["id"])
                if runs:
                    break
                await asyncio.sleep(0.05)
            view = await runtime.wait_for(runs[0]["id"], timeout=60)
            assert view.status == ExecutionStatus.COMPLETED and view.execution["output"]["pick"] == {
                "data": {"n": "a.txt"}
            }
    async with HostRuntime(settings, api=True, local=True) as runtime:
        assert runtime.file_triggers is None and runtime.server is not None
        launch = {"Authorization": f"Bearer {runtime.server.launch_token}"}
        async with httpx.AsyncClient(base_url=f"{runtime.url}/api/v1", headers=launch) as http:
            assert (await http.get("/desktop/summary")).status_code == 404  # only the desktop's host has them
