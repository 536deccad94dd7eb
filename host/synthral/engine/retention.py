"""History retention: delete finished runs older than the retention period and give the space back.

A run goes when it ended (completed, failed or cancelled) before the cutoff, with its steps,
logs and signals (foreign keys cascade) and its LangGraph checkpoints, in batches of
:data:`BATCH` runs per transaction so that a big prune never holds a long lock. A run stays
while a run that depends on it is unfinished: a sub-workflow's running parent or child, or a
replay of it. ``schedule_fire`` rows older than the cutoff go too (a slot that old can no
longer come due, so its row guards nothing).

With a blob store, blobs that nothing left in the database refers to are deleted, but only
those whose file is older than the cutoff: a blob written by a running step, not yet
recorded, is recent and stays. A workspace's grant of a blob (``blob_grant``) is permission
to name it, not a reference: it keeps no blob alive, and goes with the blob it grants.

Space: SQLite files are created with ``auto_vacuum=INCREMENTAL``, so freed pages are handed
back with ``PRAGMA incremental_vacuum`` (in small steps) and a WAL checkpoint truncates the
file. A file created before that setting (``auto_vacuum=NONE``) only reuses its free pages;
the report says so, and ``full_vacuum=True`` (``synthral prune --vacuum``) rewrites it once.
PostgreSQL's autovacuum makes the space reusable on its own; only row counts are reported.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import ValidationError
from sqlalchemy import JSON, Text, cast, delete, exists, or_, select, tuple_

from synthral.engine import state
from synthral.engine.schedules import as_utc
from synthral.errors import ConfigurationError, InputInvalid
from synthral.store.blob_tables import revoke_blobs
from synthral.store.db import Database
from synthral.store.tables import (
    CHECKPOINT,
    CHECKPOINT_BLOB,
    CHECKPOINT_WRITE,
    EXECUTION,
    SCHEDULE,
    SCHEDULE_FIRE,
    SIGNAL,
    STEP,
    WORKFLOW_VERSION,
    utcnow,
)
from synthral_sdk import BlobRef
from synthral_sdk.blobs import BlobStore

__all__ = ["BATCH", "PruneReport", "prune"]


BATCH: Final = 500
"""Runs (or fire rows, times ten) deleted per transaction."""
VACUUM_PAGES: Final = 2_000
"""Pages handed back per ``incremental_vacuum`` step (8 MB at 4 KB a page)."""

CHECKPOINT_WAIT_MS: Final = 2_000
"""How long the final WAL checkpoint may hold writers back waiting for readers."""

_DIGEST = re.compile(rb"sha256:[0-9a-f]{64}")
_PACKED_MARK = b'"$output"'
# Every column that may hold a blob reference, with the columns of the packed step outputs
# (``{"$output": {"$blob": ...}}``, the node's output stored as a JSON blob) whose contents
# are read as well: an output kept as a blob may itself refer to other blobs.
_REFERRERS: Final = (
    (STEP, ("input", "output")),
    (EXECUTION, ("input", "output", "execution_state")),
    (SIGNAL, ("signal_data",)),
    (WORKFLOW_VERSION, ("graph",)),
    (SCHEDULE, ("input",)),
    (CHECKPOINT, ("checkpoint",)),
    (CHECKPOINT_BLOB, ("blob",)),
    (CHECKPOINT_WRITE, ("blob",)),
)
_AUTO_VACUUM: Final = {0: "none", 1: "full", 2: "incremental"}


@dataclass
class PruneReport:
    """What a prune deleted and the disk space it gave back.

    Attributes:
        cutoff: Runs that ended before this moment (UTC) were deleted.
        backend: ``sqlite`` or ``postgresql``.
        executions: Runs deleted (their steps, logs, signals and checkpoints with them).
        schedule_fires: ``schedule_fire`` rows deleted.
        blobs: Blob files deleted.
        blob_bytes: Their size.
        database_bytes_before: The SQLite file and its WAL before the prune (None on PostgreSQL).
        database_bytes_after: The same after it.
        auto_vacuum: The SQLite file's ``auto_vacuum`` mode: ``incremental``, ``full`` or ``none``.
        notes: What the operator should know, e.g. that the file cannot shrink and the fix.
    """

    cutoff: datetime
    backend: str
    executions: int = 0
    schedule_fires: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    database_bytes_before: int | None = None
    database_bytes_after: int | None = None
    auto_vacuum: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def database_bytes_freed(self) -> int | None:
        """How much smaller the SQLite file (with its WAL) got; None on PostgreSQL."""
        if self.database_bytes_before is None or self.database_bytes_after is None:
            return None
        return self.database_bytes_before - self.database_bytes_after

    @property
    def bytes_freed(self) -> int:
        """Disk space given back: blob files plus the SQLite file's shrinkage."""
        return self.blob_bytes + max(self.database_bytes_freed or 0, 0)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values, with the derived byte counts."""
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat()
        data["database_bytes_freed"] = self.database_bytes_freed
        data["bytes_freed"] = self.bytes_freed
        return data

    def summary(self) -> str:
        """One line for people and logs."""
        text = (
            f"{self.executions} runs and {self.schedule_fires} fire records ended before "
            f"{self.cutoff:%Y-%m-%d %H:%M} UTC deleted, {self.blobs} blobs ({self.blob_bytes} bytes); "
            f"{self.bytes_freed} bytes given back"
        )
        return " ".join([text, *self.notes])


async def prune(
    database: Database,
    *,
    older_than_days: float,
    now: datetime | None = None,
    blobs: BlobStore | None = None,
    full_vacuum: bool = False,
) -> PruneReport:
    """Delete the history older than the retention period and give the disk space back.

    Args:
        database: The database to prune.
        older_than_days: Keep runs that ended less than this many days ago
            (``settings.engine.history_retention_days`` is the host's setting).
        now: The moment the cutoff is counted back from (default: the clock).
        blobs: Also delete the unreferenced blobs of this store that are older than the cutoff.
        full_vacuum: On a SQLite file without incremental auto-vacuum, rewrite the file once
            with ``VACUUM`` to switch it on (locks the file while it runs and needs free disk
            space of about its size).

    Returns:
        What was deleted and the space given back.

    Raises:
        ConfigurationError: ``older_than_days`` is negative or not a number.
    """
    days = older_than_days
    if not days >= 0:
        raise ConfigurationError(
            f"cannot keep {days} days of history; pass a number of days >= 0 (--days)", details={"days": days}
        )
    cutoff = as_utc(now or utcnow()) - timedelta(days=days)
    report = PruneReport(cutoff=cutoff, backend=database.dialect)
    path = _sqlite_file(database)
    if path is not None:
        report.database_bytes_before = _file_bytes(path)
    report.executions = await _delete_executions(database, cutoff)
    report.schedule_fires = await _delete_fires(database, cutoff)
    if blobs is not None:
        if path is not None:
            referenced = await asyncio.to_thread(_sqlite_references, path, blobs)
        else:
            referenced = await _postgres_references(database, blobs)
        deleted, report.blob_bytes = await asyncio.to_thread(_delete_blobs, blobs, referenced, cutoff)
        report.blobs = len(deleted)
        await _revoke_grants(database, blobs, deleted)
    if path is not None:
        await asyncio.to_thread(_give_back, path, full_vacuum, report)
        report.database_bytes_after = _file_bytes(path)
    return report


async def _delete_executions(database: Database, cutoff: datetime) -> int:
    deleted = 0
    while True:
        batch = await database.write(lambda connection: state.delete_finished(connection, cutoff, BATCH))
        deleted += len(batch)
        if len(batch) < BATCH:
            return deleted


async def _delete_fires(database: Database, cutoff: datetime) -> int:
    # A fire row keeps its slot from firing again; it can go once the schedule has moved
    # past the slot for good, which is always the case for slots older than the cutoff.
    passed = exists().where(
        SCHEDULE.c.id == SCHEDULE_FIRE.c.schedule_id,
        or_(SCHEDULE.c.next_run_at.is_(None), SCHEDULE.c.next_run_at > SCHEDULE_FIRE.c.slot),
    )
    old = (
        select(SCHEDULE_FIRE.c.schedule_id, SCHEDULE_FIRE.c.slot)
        .where(SCHEDULE_FIRE.c.slot < cutoff, passed)
        .limit(BATCH * 10)
        .correlate(None)
    )
    deleted = 0
    while True:
        async with database.transaction() as connection:
            result = await connection.execute(
                delete(SCHEDULE_FIRE).where(tuple_(SCHEDULE_FIRE.c.schedule_id, SCHEDULE_FIRE.c.slot).in_(old))
            )
        deleted += result.rowcount
        if result.rowcount < BATCH * 10:
            return deleted


# -- blobs -------------------------------------------------------------------------------


def _packed(value: Any) -> Iterator[str]:
    """Digests of the packed outputs (``{"$output": {"$blob": ...}}``) anywhere in ``value``."""
    if isinstance(value, dict):
        inner = value.get("$output")
        if len(value) == 1 and isinstance(inner, dict) and isinstance(inner.get("$blob"), str):
            yield inner["$blob"]
            return
        for item in value.values():
            yield from _packed(item)
    elif isinstance(value, list):
        for item in value:
            yield from _packed(item)


def _collect(values: Iterable[str | bytes | None], store: BlobStore, found: set[str]) -> None:
    for value in values:
        if value is None:
            continue
        data = value.encode() if isinstance(value, str) else bytes(value)
        found.update(match.decode() for match in _DIGEST.findall(data))
        if _PACKED_MARK in data:
            try:
                packed = list(_packed(orjson.loads(data)))
            except orjson.JSONDecodeError:
                continue  # checkpoint bytes are not JSON; their digests were taken above
            for digest in packed:
                contents = _blob_path(store, digest)
                if contents is not None and contents.is_file():
                    found.update(match.decode() for match in _DIGEST.findall(contents.read_bytes()))


def _sqlite_references(path: Path, store: BlobStore) -> set[str]:
    """Every digest the database refers to, read in one WAL snapshot (writers are not held up)."""
    found: set[str] = set()
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as connection:
        connection.execute("BEGIN")  # deferred: a read snapshot, no write lock
        for table, columns in _REFERRERS:
            for column in columns:
                rows = connection.execute(f"SELECT {column} FROM {table.name}")  # noqa: S608 -- fixed names
                _collect((row[0] for row in rows), store, found)
        connection.execute("COMMIT")
    return found


async def _postgres_references(database: Database, store: BlobStore) -> set[str]:
    """Every digest the database refers to, streamed from one snapshot."""
    found: set[str] = set()
    async with database.engine.connect() as connection:
        snapshot = await connection.execution_options(isolation_level="REPEATABLE READ")
        for table, columns in _REFERRERS:
            for column in columns:
                col = table.c[column]
                result = await snapshot.stream(select(cast(col, Text) if isinstance(col.type, JSON) else col))
                async for partition in result.partitions(BATCH):
                    values = [row[0] for row in partition]
                    await asyncio.to_thread(_collect, values, store, found)
    return found


def _blob_path(store: BlobStore, digest: str) -> Path | None:
    try:
        return store.path(BlobRef.model_validate({"$blob": digest, "size": 0}))
    except (ValidationError, InputInvalid):  # malformed, or gone meanwhile: nothing to read
        return None


def _delete_blobs(store: BlobStore, referenced: set[str], cutoff: datetime) -> tuple[list[str], int]:
    deleted: list[str] = []
    size = 0
    limit = cutoff.timestamp()
    for digest in list(store.iter_digests()):
        if digest in referenced:
            continue
        path = _blob_path(store, digest)
        if path is None:
            continue
        # Stat right before deleting: a blob stored again since the scan is recent and stays.
        stat = path.stat()
        if stat.st_mtime >= limit:
            continue
        path.unlink(missing_ok=True)
        deleted.append(digest)
        size += stat.st_size
    return deleted, size


async def _revoke_grants(database: Database, store: BlobStore, deleted: list[str]) -> None:
    """Remove the grants of deleted blobs, in batches, but not of one stored again since."""
    for start in range(0, len(deleted), BATCH):
        gone = [digest for digest in deleted[start : start + BATCH] if _blob_path(store, digest) is None]
        if gone:
            await database.write(lambda connection: revoke_blobs(connection, gone))  # noqa: B023 -- awaited here


# -- disk space --------------------------------------------------------------------------


def _sqlite_file(database: Database) -> Path | None:
    name = database.engine.url.database
    if database.is_postgres or not name or name == ":memory:":
        return None
    return Path(name)


def _file_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return sum(item.stat().st_size for item in (path, wal) if item.exists())


def _give_back(path: Path, full_vacuum: bool, report: PruneReport) -> None:
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as connection:
        mode = _AUTO_VACUUM.get(connection.execute("PRAGMA auto_vacuum").fetchone()[0], "none")
        if mode == "none" and full_vacuum:
            connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("VACUUM")
            mode = _AUTO_VACUUM.get(connection.execute("PRAGMA auto_vacuum").fetchone()[0], "none")
        report.auto_vacuum = mode
        if mode == "incremental":
            # Python's execute() steps a pragma once (one page); executescript() runs it through.
            # Small steps keep each write lock short; pages others free meanwhile wait for next time.
            free = connection.execute("PRAGMA freelist_count").fetchone()[0]
            for _ in range(-(-free // VACUUM_PAGES)):
                connection.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES});")
        elif mode == "none":
            report.notes.append(
                f"{path} was created without incremental auto-vacuum (PRAGMA auto_vacuum is NONE): freed "
                "pages are reused but the file does not shrink. Run 'synthral prune --vacuum' once while no "
                "worker runs to rewrite it (needs free disk space of about the file's size)."
            )
        # A truncating checkpoint holds new writers back while it waits for readers: wait briefly.
        connection.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            report.notes.append("The WAL could not be truncated while other connections read; it shrinks later.")
