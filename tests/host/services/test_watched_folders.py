"""Watched folders and dropped files: each file fires once, across restarts, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from synthral.config import Settings
from synthral.engine.model import Workflow
from synthral.engine.repository import WorkflowNotFound
from synthral.errors import InputInvalid, NotFound
from synthral.services.app import App, open_app
from synthral.services.identity import IdentityService
from synthral.services.watched_folders import FileTriggers
from synthral.store.db import Database
from synthral.store.desktop_tables import WATCHED_FILE
from tests.support.postgres import PostgresServer

FILES_WORKFLOW = {
    "name": "files",
    "nodes": [{"id": "pick", "type": "core/transform", "config": {"mapping": {"name": "name", "size": "file.size"}}}],
}


@pytest.fixture
async def app(database: Database, tmp_path: Path) -> AsyncIterator[App]:
    url = database.engine.url.render_as_string(hide_password=False)
    async with open_app(Settings.load(home=tmp_path / "home", engine={"database_url": url})) as opened:
        yield opened


async def workspace_of(app: App) -> str:
    identity = IdentityService(app.database, signing_key=b"k" * 32, keyring=app.keyring)
    principal = await identity.local_principal()
    assert principal.workspace_id is not None
    return principal.workspace_id


async def saved(app: App, workspace: str) -> None:
    await app.workflows.save(Workflow.model_validate(FILES_WORKFLOW), workspace_id=workspace)


async def test_a_watched_folder_fires_once_per_file_and_again_for_new_content(app: App, tmp_path: Path) -> None:
    workspace = await workspace_of(app)
    await saved(app, workspace)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("first")
    (inbox / ".hidden").write_text("x")
    (inbox / "b.pdf.part").write_text("being downloaded")
    triggers = FileTriggers(app.database, app.workflows, app.plugins.blobs)
    folder = await triggers.add_folder(workspace, "files", str(inbox))

    first = await triggers.scan(folder, workspace)
    assert len(first) == 1
    assert await triggers.scan(folder, workspace) == []  # seen: no second run

    restarted = FileTriggers(app.database, app.workflows, app.plugins.blobs)  # a new process, same database
    assert await restarted.scan(folder, workspace) == []
    (inbox / "a.txt").write_text("second content")
    assert len(await restarted.scan(folder, workspace)) == 1

    runs = await app.workflows.executions(workflow="files", workspace_id=workspace)
    assert len(runs) == 2
    view = await app.workflows.execution(first[0], workspace_id=workspace)
    assert view.execution["input"]["name"] == "a.txt"
    assert view.execution["input"]["file"]["$blob"].startswith("sha256:")
    assert view.execution["input"]["source"] == "watched_folder"


async def test_recover_queues_each_unstarted_file_once(app: App, tmp_path: Path) -> None:
    workspace = await workspace_of(app)
    await saved(app, workspace)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("content")
    triggers = FileTriggers(app.database, app.workflows, app.plugins.blobs)
    folder = await triggers.add_folder(workspace, "files", str(inbox))
    [execution_id] = await triggers.scan(folder, workspace)
    async with app.database.transaction() as connection:
        await connection.execute(update(WATCHED_FILE).values(started=False))

    restarted = FileTriggers(app.database, app.workflows, app.plugins.blobs)
    assert await restarted.recover() == 1  # queued again with the recorded id: starting is idempotent by id
    assert await restarted.recover() == 0
    runs = await app.workflows.executions(workflow="files", workspace_id=workspace)
    assert [run["id"] for run in runs] == [execution_id]
    async with app.database.engine.connect() as connection:
        assert (await connection.execute(select(WATCHED_FILE.c.started))).scalars().all() == [True]


async def test_the_watcher_fires_for_a_new_file_without_a_rescan(app: App, tmp_path: Path) -> None:
    workspace = await workspace_of(app)
    await saved(app, workspace)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    triggers = FileTriggers(app.database, app.workflows, app.plugins.blobs)
    await triggers.add_folder(workspace, "files", str(inbox))
    stop = asyncio.Event()
    watcher = asyncio.create_task(triggers.run(stop))
    try:
        await asyncio.sleep(1.0)
        (inbox / "new.txt").write_text("hello")
        for _ in range(200):
            runs = await app.workflows.executions(workflow="files", workspace_id=workspace)
            if runs:
                break
            await asyncio.sleep(0.1)
        assert len(runs) == 1
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 10)


async def test_bad_folders_files_and_workflows_are_refused_with_the_fix(app: App, tmp_path: Path) -> None:
    workspace = await workspace_of(app)
    await saved(app, workspace)
    triggers = FileTriggers(app.database, app.workflows, app.plugins.blobs)
    with pytest.raises(InputInvalid, match="relative; give its absolute path"):
        await triggers.add_folder(workspace, "files", "inbox")
    with pytest.raises(InputInvalid, match="does not exist or is not a folder; create it first"):
        await triggers.add_folder(workspace, "files", str(tmp_path / "missing"))
    with pytest.raises(InputInvalid, match="pattern is empty"):
        await triggers.add_folder(workspace, "files", str(tmp_path), pattern=" ")
    with pytest.raises(WorkflowNotFound):
        await triggers.add_folder(workspace, "nope", str(tmp_path))
    with pytest.raises(InputInvalid, match="drop files, not folders"):
        await triggers.start_with_files(workspace, "files", [str(tmp_path)])
    with pytest.raises(InputInvalid, match="paths is empty"):
        await triggers.start_with_files(workspace, "files", [])
    with pytest.raises(NotFound, match="GET /desktop/watched-folders"):
        await triggers.remove_folder(workspace, "no-such-id")
    assert await triggers.folders(workspace) == []


async def test_dropped_files_start_one_run_each_and_the_summary_counts_them(app: App, tmp_path: Path) -> None:
    workspace = await workspace_of(app)
    await saved(app, workspace)
    files = []
    for name in ("one.txt", "two.txt"):
        (tmp_path / name).write_text(name)
        files.append(str(tmp_path / name))
    triggers = FileTriggers(app.database, app.workflows, app.plugins.blobs)
    ids = await triggers.start_with_files(workspace, "files", files)
    assert len(set(ids)) == 2
    summary = await triggers.summary(workspace)
    assert summary["running"] == 2  # queued, no worker in this test
    assert summary["recent"] == [{"id": summary["recent"][0]["id"], "name": "files"}]


@pytest.mark.slow
async def test_the_watcher_lives_through_a_database_outage_and_fires_for_what_arrived_meanwhile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = PostgresServer.start()
    try:
        url = server.create_database(f"t_{uuid.uuid4().hex[:10]}")
        async with open_app(Settings.load(home=tmp_path / "home", engine={"database_url": url})) as opened:
            workspace = await workspace_of(opened)
            await saved(opened, workspace)
            inbox = tmp_path / "inbox"
            inbox.mkdir()
            triggers = FileTriggers(opened.database, opened.workflows, opened.plugins.blobs)
            await triggers.add_folder(workspace, "files", str(inbox))
            stop = asyncio.Event()
            watching = asyncio.create_task(triggers.run(stop))
            await asyncio.sleep(1.0)  # watching the (empty) folder

            server.halt()  # connections refused
            (inbox / "during.txt").write_text("arrived while the database was away")
            await asyncio.sleep(4.0)
            assert not watching.done()
            server.resume()

            names: list[str] = []
            for _ in range(300):
                async with opened.database.engine.connect() as connection:
                    names = list((await connection.execute(select(WATCHED_FILE.c.name))).scalars())
                if names:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await watching
        assert names == ["during.txt"]
        logged = [r.getMessage() for r in caplog.records if r.name == "synthral.services.watched_folders"]
        assert sum("keeps trying" in line for line in logged) == 1, logged  # the outage, once
    finally:
        server.stop()
