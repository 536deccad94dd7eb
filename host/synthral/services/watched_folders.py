"""Files as triggers, for the desktop app's host: watched folders and dropped files.

A watched folder starts its workflow once for every new file in it, with the file stored as
a blob and granted to the folder's workspace (so its runs may be handed it). The file is
recorded (folder, name, content digest; unique) together with the id its run will have
before the run is queued, and the run is queued with that id, which is idempotent. So a
file seen twice, by two scans or across a restart, fires once; a file recorded just before a
crash is queued at the next start. Changes arrive from the operating system's file
notifications (inotify, FSEvents, ReadDirectoryChangesW through ``watchfiles``): an idle
folder costs nothing.

Only the desktop app's host runs the watcher and mounts the routes: a server has no business
reading its own disk on behalf of a workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import logging
import mimetypes
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from synthral.engine.repository import get_workflow_row
from synthral.errors import InputInvalid, NotFound
from synthral.services.workflows import WorkflowService
from synthral.store.blob_tables import grant_blobs
from synthral.store.db import Database
from synthral.store.desktop_tables import WATCHED_FILE, WATCHED_FOLDER
from synthral.store.outage import Outage
from synthral.store.tables import EXECUTION, SCHEDULE, WORKFLOW, ExecutionStatus, new_id, utcnow
from synthral_sdk import BlobStore

__all__ = ["FileTriggers", "WatchedFolder"]

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~")
"""Names of files still being written by browsers and editors: they fire once renamed."""
SETTLE_SECONDS = 0.2
"""A file whose size changed over this interval is still being written; the next event retries it."""
RECENT_FAILURES_HOURS = 24


@dataclass(frozen=True)
class WatchedFolder:
    """A folder whose new files start a workflow."""

    id: str
    workflow_id: str
    workflow: str
    path: str
    pattern: str


class FileTriggers:
    """Watched folders and dropped files of the desktop's one workspace.

    Args:
        database: The host's database.
        workflows: Starts the runs.
        blobs: Where the files' bytes are stored.
        outage: The process's view of the database (shared, so an outage is logged once).
    """

    def __init__(
        self, database: Database, workflows: WorkflowService, blobs: BlobStore, *, outage: Outage | None = None
    ) -> None:
        self.database = database
        self.workflows = workflows
        self.blobs = blobs
        self.outage = outage or Outage(log, "watched folders")
        self.changed = asyncio.Event()

    # -- folders ---------------------------------------------------------------------------

    async def add_folder(self, workspace_id: str, workflow: str, path: str, pattern: str = "*") -> WatchedFolder:
        """Watch ``path`` for new files matching ``pattern``; each starts ``workflow``.

        Files already in the folder fire too, once: a folder is a queue of work.

        Raises:
            InputInvalid: The path is not an absolute path of a folder, or the pattern is empty.
            WorkflowNotFound: No such workflow in the workspace.
        """
        folder = await asyncio.to_thread(_check_folder, path)
        if not pattern.strip():
            raise InputInvalid("pattern is empty; use '*' for every file or e.g. '*.pdf'", details={"pattern": pattern})
        async with self.database.transaction() as connection:
            row = await get_workflow_row(connection, workflow, workspace_id)
            existing = (
                await connection.execute(
                    select(WATCHED_FOLDER.c.id).where(
                        (WATCHED_FOLDER.c.workflow_id == row.id) & (WATCHED_FOLDER.c.path == folder)
                    )
                )
            ).first()
            folder_id = existing[0] if existing else new_id()
            if existing is None:
                await connection.execute(
                    WATCHED_FOLDER.insert().values(
                        id=folder_id,
                        workspace_id=workspace_id,
                        workflow_id=row.id,
                        path=folder,
                        pattern=pattern.strip(),
                        created_at=utcnow(),
                    )
                )
            else:
                await connection.execute(
                    update(WATCHED_FOLDER).where(WATCHED_FOLDER.c.id == folder_id).values(pattern=pattern.strip())
                )
        self.changed.set()
        return WatchedFolder(folder_id, row.id, row.name, folder, pattern.strip())

    async def folders(self, workspace_id: str | None = None) -> list[WatchedFolder]:
        """Every watched folder (of one workspace when given), by path."""
        query = select(WATCHED_FOLDER, WORKFLOW.c.name.label("workflow_name")).join(
            WORKFLOW, WORKFLOW.c.id == WATCHED_FOLDER.c.workflow_id
        )
        if workspace_id is not None:
            query = query.where(WATCHED_FOLDER.c.workspace_id == workspace_id)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query.order_by(WATCHED_FOLDER.c.path))).all()
        return [WatchedFolder(r.id, r.workflow_id, r.workflow_name, r.path, r.pattern) for r in rows]

    async def remove_folder(self, workspace_id: str, folder_id: str) -> None:
        """Stop watching a folder (the record of the files it fired for goes with it).

        Raises:
            NotFound: No such watched folder in the workspace.
        """
        async with self.database.transaction() as connection:
            result = await connection.execute(
                WATCHED_FOLDER.delete().where(
                    (WATCHED_FOLDER.c.id == folder_id) & (WATCHED_FOLDER.c.workspace_id == workspace_id)
                )
            )
        if result.rowcount == 0:
            raise NotFound(f"no watched folder {folder_id!r}; list them at GET /desktop/watched-folders")
        self.changed.set()

    # -- firing ----------------------------------------------------------------------------

    async def scan(self, folder: WatchedFolder, workspace_id: str) -> list[str]:
        """Start a run for every file in ``folder`` that has not fired yet; the new runs' ids."""
        try:
            entries = await asyncio.to_thread(_candidates, Path(folder.path), folder.pattern)
        except OSError as exc:
            log.warning("watched folder %s cannot be read: %s", folder.path, exc)
            return []
        started: list[str] = []
        for entry in entries:
            if not await _settled(entry):
                continue
            execution_id = await self._fire(folder, workspace_id, entry)
            if execution_id is not None:
                started.append(execution_id)
        return started

    async def _fire(self, folder: WatchedFolder, workspace_id: str, entry: Path) -> str | None:
        try:
            ref = await asyncio.to_thread(self.blobs.put_file, entry, media_type=_media_type(entry), name=entry.name)
        except OSError as exc:  # removed or unreadable since it was listed
            log.warning("watched file %s cannot be read: %s", entry, exc)
            return None
        execution_id = new_id()
        async with self.database.transaction() as connection:
            await connection.run_sync(lambda sync: grant_blobs(sync, workspace_id, [ref.digest]))
            inserted = await connection.execute(
                self.database.insert(WATCHED_FILE)
                .values(
                    folder_id=folder.id,
                    name=entry.name,
                    sha256=ref.digest,
                    size=ref.size,
                    execution_id=execution_id,
                    started=False,
                    seen_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["folder_id", "name", "sha256"])
            )
        if inserted.rowcount == 0:
            return None  # fired before
        payload = _file_input(ref.model_dump(by_alias=True, exclude_none=True), entry, "watched_folder")
        await self._queue(folder.workflow_id, workspace_id, execution_id, payload)
        return execution_id

    async def _queue(self, workflow_id: str, workspace_id: str, execution_id: str, payload: dict[str, Any]) -> None:
        await self.workflows.start(
            workflow_id, payload, trigger="watched_folder", execution_id=execution_id, workspace_id=workspace_id
        )
        async with self.database.transaction() as connection:
            await connection.execute(
                update(WATCHED_FILE).where(WATCHED_FILE.c.execution_id == execution_id).values(started=True)
            )

    async def recover(self) -> int:
        """Queue the runs of files recorded just before a crash stopped their queuing; how many."""
        query = (
            select(WATCHED_FILE, WATCHED_FOLDER.c.workflow_id, WATCHED_FOLDER.c.workspace_id, WATCHED_FOLDER.c.path)
            .join(WATCHED_FOLDER, WATCHED_FOLDER.c.id == WATCHED_FILE.c.folder_id)
            .where(WATCHED_FILE.c.started.is_(False))
        )
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        for row in rows:
            entry = Path(row.path) / row.name
            ref = {"$blob": row.sha256, "size": row.size, "mediaType": _media_type(entry), "name": row.name}
            await self._queue(
                row.workflow_id, row.workspace_id, row.execution_id, _file_input(ref, entry, "watched_folder")
            )
        return len(rows)

    async def start_with_files(self, workspace_id: str, workflow: str, paths: list[str]) -> list[str]:
        """Start one run of ``workflow`` per file (dropped on the desktop window); the run ids.

        Raises:
            InputInvalid: A path is not an absolute path of a readable file; nothing is started.
            WorkflowNotFound: No such workflow in the workspace.
        """
        if not paths:
            raise InputInvalid("paths is empty; give the absolute paths of the files to start the workflow with")
        files = await asyncio.to_thread(_check_files, paths)
        async with self.database.engine.connect() as connection:
            row = await get_workflow_row(connection, workflow, workspace_id)
        started = []
        for path in files:
            ref = await self.workflows.grants.store(
                self.blobs, workspace_id, path, media_type=_media_type(path), name=path.name
            )
            payload = _file_input(ref.model_dump(by_alias=True, exclude_none=True), path, "drop")
            started.append(await self.workflows.start(row.id, payload, trigger="drop", workspace_id=workspace_id))
        return started

    # -- the watcher -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Fire for what arrived while the app was closed, then for every new file, until ``stop`` is set.

        A database outage pauses the watcher (logged once) instead of ending it: it starts
        again, backing off, and fires for what arrived meanwhile once the database answers.
        """
        while not stop.is_set():
            try:
                await self._watch(stop)
            except Exception as exc:
                trouble = self.database.unavailable(exc)
                if trouble is None:
                    raise
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.outage.failed(trouble))

    async def _watch(self, stop: asyncio.Event) -> None:
        from watchfiles import awatch  # noqa: PLC0415 -- only the desktop's host watches folders

        await self.recover()
        self.outage.recovered(wrote=False)
        while not stop.is_set():
            self.changed.clear()
            folders = await self.folders()
            workspaces = await self._workspaces(folders)
            for folder in folders:
                await self.scan(folder, workspaces[folder.id])
            roots = await asyncio.to_thread(_existing_dirs, [f.path for f in folders])
            if not roots:
                await _first(stop.wait(), self.changed.wait())
                continue
            quit_watch = asyncio.Event()
            relay = asyncio.create_task(_first(stop.wait(), self.changed.wait()))
            relay.add_done_callback(functools.partial(_set, quit_watch))
            try:
                async for changes in awatch(*roots, stop_event=quit_watch, recursive=False, debounce=300, step=50):
                    touched = {str(Path(path).parent) for _, path in changes}
                    for folder in folders:
                        if folder.path in touched:
                            await self.scan(folder, workspaces[folder.id])
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay

    async def _workspaces(self, folders: list[WatchedFolder]) -> dict[str, str]:
        ids = [f.id for f in folders]
        if not ids:
            return {}
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(WATCHED_FOLDER.c.id, WATCHED_FOLDER.c.workspace_id).where(WATCHED_FOLDER.c.id.in_(ids))
            )
            return {row.id: row.workspace_id for row in rows}

    # -- the tray ----------------------------------------------------------------------------

    async def summary(self, workspace_id: str) -> dict[str, Any]:
        """Counts for the tray (running, waiting, failed in the last day) and the recent workflows."""
        since = utcnow().timestamp() - RECENT_FAILURES_HOURS * 3600
        in_workspace = WORKFLOW.c.workspace_id == workspace_id
        async with self.database.engine.connect() as connection:
            counts: dict[str, int] = dict(
                (
                    await connection.execute(
                        select(EXECUTION.c.status, func.count())
                        .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
                        .where(in_workspace & EXECUTION.c.status.in_(["queued", "running", "waiting", "paused"]))
                        .group_by(EXECUTION.c.status)
                    )
                ).all()
            )
            failed = (
                await connection.execute(
                    select(func.count())
                    .select_from(EXECUTION.join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id))
                    .where(in_workspace & (EXECUTION.c.status == ExecutionStatus.FAILED))
                    .where(EXECUTION.c.started_at >= _from_timestamp(since))
                )
            ).scalar_one()
            recent = (
                await connection.execute(
                    select(WORKFLOW.c.id, WORKFLOW.c.name, func.max(EXECUTION.c.started_at).label("at"))
                    .select_from(WORKFLOW.outerjoin(EXECUTION, EXECUTION.c.workflow_id == WORKFLOW.c.id))
                    .where(in_workspace)
                    .group_by(WORKFLOW.c.id, WORKFLOW.c.name)
                    .order_by(func.max(EXECUTION.c.started_at).desc().nulls_last(), WORKFLOW.c.name)
                    .limit(8)
                )
            ).all()
            paused = (
                await connection.execute(
                    select(func.count())
                    .select_from(SCHEDULE.join(WORKFLOW, WORKFLOW.c.id == SCHEDULE.c.workflow_id))
                    .where(in_workspace & SCHEDULE.c.is_active.is_(False))
                )
            ).scalar_one()
        return {
            "running": int(counts.get("running", 0)) + int(counts.get("queued", 0)),
            "waiting": int(counts.get("waiting", 0)) + int(counts.get("paused", 0)),
            "failed": int(failed),
            "paused_schedules": int(paused),
            "recent": [{"id": row.id, "name": row.name} for row in recent],
        }

    async def pause_schedules(self, workspace_id: str, *, paused: bool) -> int:
        """Pause (or resume) every schedule of the workspace; how many changed.

        Saving a workflow makes its own schedules active again, as its cron triggers say.
        """
        workflow_ids = select(WORKFLOW.c.id).where(WORKFLOW.c.workspace_id == workspace_id).scalar_subquery()
        async with self.database.transaction() as connection:
            result = await connection.execute(
                update(SCHEDULE)
                .where(SCHEDULE.c.workflow_id.in_(workflow_ids) & (SCHEDULE.c.is_active.is_(paused)))
                .values(is_active=not paused)
            )
        return int(result.rowcount)


def _media_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _file_input(ref: dict[str, Any], path: Path, source: str) -> dict[str, Any]:
    """A run's input for one file: the blob, its name and where it came from."""
    return {"file": ref, "name": path.name, "path": str(path), "source": source}


async def _settled(entry: Path) -> bool:
    """Whether the file stopped growing (a copy in progress fires at its last event instead)."""
    try:
        stat = await asyncio.to_thread(entry.stat)
        if time.time() - stat.st_mtime > 2:
            return True
        await asyncio.sleep(SETTLE_SECONDS)
        return (await asyncio.to_thread(entry.stat)).st_size == stat.st_size
    except OSError:
        return False


def _check_folder(path: str) -> str:
    folder = Path(path).expanduser()
    if not folder.is_absolute():
        raise InputInvalid(f"folder {path!r} is relative; give its absolute path", details={"path": path})
    if not folder.is_dir():
        raise InputInvalid(
            f"folder {path!r} does not exist or is not a folder; create it first", details={"path": path}
        )
    return str(folder.resolve())


def _check_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_absolute() or not path.is_file():
            raise InputInvalid(
                f"{raw!r} is not an absolute path of a file; drop files, not folders", details={"path": raw}
            )
        files.append(path)
    return files


def _candidates(root: Path, pattern: str) -> list[Path]:
    """The folder's files that may fire: matching names, hidden and half-written files left out."""
    found = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.startswith(".") or name.endswith(PARTIAL_SUFFIXES) or not fnmatch.fnmatch(name, pattern):
            continue
        if entry.is_file():
            found.append(entry)
    return found


def _existing_dirs(paths: list[str]) -> list[str]:
    return sorted({path for path in paths if Path(path).is_dir()})


def _set(event: asyncio.Event, _: object) -> None:
    event.set()


def _from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def _first(*waits: Any) -> None:
    """Wait until the first of ``waits`` (coroutines) finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
