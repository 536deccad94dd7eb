"""History retention on both backends: what goes, what stays, and the disk space given back."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, insert, select

from synthral.config import Settings
from synthral.engine.model import Workflow
from synthral.engine.repository import save_workflow
from synthral.engine.retention import BATCH, prune
from synthral.engine.schedules import SCHEDULE, as_utc
from synthral.errors import ConfigurationError
from synthral.services.blob_grants import BlobGrants
from synthral.store.blob_tables import BLOB_GRANT
from synthral.store.db import Database
from synthral.store.tables import (
    CHECKPOINT,
    CHECKPOINT_BLOB,
    CHECKPOINT_WRITE,
    EXECUTION,
    EXECUTION_LOG,
    SCHEDULE_FIRE,
    SIGNAL,
    STEP,
    WORKSPACE,
    ExecutionStatus,
)
from synthral_sdk.blobs import BlobStore

HISTORY = {
    "step": STEP,
    "log": EXECUTION_LOG,
    "signal": SIGNAL,
    "checkpoint": CHECKPOINT,
    "blob": CHECKPOINT_BLOB,
    "write": CHECKPOINT_WRITE,
}

NOW = datetime(2025, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=45)
RECENT = NOW - timedelta(days=5)


async def new_workflow(database: Database) -> str:
    workflow = Workflow.model_validate(
        {"name": "kept", "nodes": [{"id": "a", "type": "core/set", "config": {"values": {}}}], "edges": []}
    )
    async with database.transaction() as connection:
        return (await save_workflow(connection, workflow, {})).workflow_id


def run_rows(
    workflow_id: str,
    run_id: str,
    status: str,
    ended: datetime | None,
    *,
    steps: int = 1,
    step_output: Any = None,
    parent: str | None = None,
    replay_of: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """A run with its steps, a log line, a signal and checkpoint rows, as rows per table."""
    started = ended or OLD
    execution = {
        "id": run_id,
        "workflow_id": workflow_id,
        "workflow_version": 1,
        "status": status,
        "trigger": "manual",
        "input": {},
        "started_at": started,
        "completed_at": ended if status in ExecutionStatus.TERMINAL else None,
        "parent_execution_id": parent,
        "replay_of": replay_of,
    }
    step_rows = [
        {
            "execution_id": run_id,
            "node_id": f"n{i}",
            "node_type": "core/set",
            "status": "completed",
            "idempotency_key": f"{run_id}/n{i}/0",
            "output": step_output or {"i": i},
            "started_at": started,
        }
        for i in range(steps)
    ]
    key = {"thread_id": run_id, "checkpoint_ns": ""}
    saved = {"type": "msgpack", "checkpoint": b"x", "meta_type": "msgpack", "meta": b"{}"}
    pending = {"task_id": "t", "idx": 0, "channel": "c", "type": "msgpack", "blob": b"x"}
    return {
        "execution": [execution],
        "step": step_rows,
        "log": [{"execution_id": run_id, "level": "info", "message": "hello", "timestamp": started}],
        "signal": [
            {
                "id": f"{run_id}-signal",
                "execution_id": run_id,
                "signal_type": "custom",
                "signal_data": {},
                "dedupe_key": "k",
                "received_at": started,
            }
        ],
        "checkpoint": [{**key, "checkpoint_id": "1", **saved}],
        "blob": [{**key, "channel": "c", "version": "1", "type": "msgpack", "blob": b"x"}],
        "write": [{**key, "checkpoint_id": "1", **pending}],
    }


async def add_runs(database: Database, *runs: dict[str, list[dict[str, Any]]]) -> None:
    async with database.transaction() as connection:
        await connection.execute(insert(EXECUTION), [row for run in runs for row in run["execution"]])
        for name, table in HISTORY.items():
            rows = [row for run in runs for row in run[name]]
            if rows:
                await connection.execute(insert(table), rows)


async def history_of(database: Database, run_id: str) -> dict[str, int]:
    counts = {}
    async with database.engine.connect() as connection:
        for name, table in HISTORY.items():
            column = table.c.thread_id if "thread_id" in table.c else table.c.execution_id
            counts[name] = (await connection.execute(select(func.count()).where(column == run_id))).scalar_one()
    return counts


async def remaining_runs(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return set((await connection.execute(select(EXECUTION.c.id))).scalars())


async def test_old_finished_runs_go_with_their_history_and_dependencies_keep_runs(database: Database) -> None:
    wf = await new_workflow(database)
    done, running, waiting = ExecutionStatus.COMPLETED, ExecutionStatus.RUNNING, ExecutionStatus.WAITING
    await add_runs(
        database,
        run_rows(wf, "old-done", done, OLD),
        run_rows(wf, "old-failed", ExecutionStatus.FAILED, OLD),
        run_rows(wf, "old-cancelled", ExecutionStatus.CANCELLED, OLD),
        run_rows(wf, "recent-done", done, RECENT),
        run_rows(wf, "old-running", running, None),
        run_rows(wf, "old-waiting", waiting, None),
        run_rows(wf, "parent", done, OLD),  # its sub-workflow still runs
        run_rows(wf, "child-running", running, None, parent="parent"),
        run_rows(wf, "parent-waiting", waiting, None),  # still waits; its finished child stays
        run_rows(wf, "child-done", done, OLD, parent="parent-waiting"),
        run_rows(wf, "original", done, OLD),  # being replayed
        run_rows(wf, "replay", ExecutionStatus.QUEUED, None, replay_of="original"),
        run_rows(wf, "old-parent", done, OLD),  # all finished: both go
        run_rows(wf, "old-child", done, OLD, parent="old-parent"),
    )
    report = await prune(database, older_than_days=30, now=NOW)
    gone = {"old-done", "old-failed", "old-cancelled", "old-parent", "old-child"}
    assert report.executions == len(gone)
    assert report.cutoff == NOW - timedelta(days=30)
    kept = await remaining_runs(database)
    assert kept == {
        "recent-done",
        "old-running",
        "old-waiting",
        "parent",
        "child-running",
        "parent-waiting",
        "child-done",
        "original",
        "replay",
    }
    for run_id in gone:
        assert set((await history_of(database, run_id)).values()) == {0}, run_id
    for run_id in kept:
        assert set((await history_of(database, run_id)).values()) == {1}, run_id
    assert (await prune(database, older_than_days=30, now=NOW)).executions == 0


async def test_the_retention_comes_from_the_settings(database: Database) -> None:
    wf = await new_workflow(database)
    await add_runs(
        database,
        run_rows(wf, "twenty-days", ExecutionStatus.COMPLETED, NOW - timedelta(days=20)),
        run_rows(wf, "five-days", ExecutionStatus.COMPLETED, RECENT),
    )
    days = Settings.load({"WORKFLOW_HISTORY_RETENTION_DAYS": "10"}).engine.history_retention_days
    assert (await prune(database, older_than_days=days, now=NOW)).executions == 1
    assert await remaining_runs(database) == {"five-days"}
    with pytest.raises(ConfigurationError, match="--days"):
        await prune(database, older_than_days=-1, now=NOW)


def test_the_retention_setting_defaults_to_thirty_days_and_refuses_what_is_not_a_number() -> None:
    assert Settings.load({}).engine.history_retention_days == 30
    assert Settings.load({"WORKFLOW_HISTORY_RETENTION_DAYS": "7.5"}).engine.history_retention_days == 7.5
    for bad in ("-1", "nan", "a month"):
        with pytest.raises(ConfigurationError, match=f"WORKFLOW_HISTORY_RETENTION_DAYS='{bad}'"):
            Settings.load({"WORKFLOW_HISTORY_RETENTION_DAYS": bad})


async def test_old_fire_records_go_recent_ones_stay(database: Database) -> None:
    wf = await new_workflow(database)
    async with database.transaction() as connection:
        await connection.execute(
            insert(SCHEDULE).values(
                id="daily",
                workflow_id=wf,
                trigger_index=0,
                cron_expression="0 9 * * *",
                timezone="UTC",
                catch_up="once",
                is_active=True,
                next_run_at=NOW + timedelta(hours=9),
                fired_count=2,
                missed_count=0,
            )
        )
        await connection.execute(
            insert(SCHEDULE_FIRE), [{"schedule_id": "daily", "slot": slot, "fired_at": slot} for slot in (OLD, RECENT)]
        )
    assert (await prune(database, older_than_days=30, now=NOW)).schedule_fires == 1
    async with database.engine.connect() as connection:
        assert [as_utc(slot) for slot in (await connection.execute(select(SCHEDULE_FIRE.c.slot))).scalars()] == [RECENT]


def checkpoint_file(database: Database) -> int:
    """The SQLite file's size once its WAL is written back into it."""
    path = database.engine.url.database
    assert path is not None
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


async def add_big_runs(database: Database, workflow_id: str, count: int, prefix: str = "big") -> None:
    payload = {"text": "lorem ipsum " * 400}  # ~5 KB per step
    for start in range(0, count, 400):
        await add_runs(
            database,
            *(
                run_rows(workflow_id, f"{prefix}-{i}", ExecutionStatus.COMPLETED, OLD, steps=3, step_output=payload)
                for i in range(start, min(start + 400, count))
            ),
        )


async def test_a_big_prune_runs_in_batches_and_shrinks_the_sqlite_file(database: Database) -> None:
    wf = await new_workflow(database)
    count = 2 * BATCH + 100  # three batches; 3,300 steps of ~5 KB
    await add_big_runs(database, wf, count)
    await add_runs(database, run_rows(wf, "recent", ExecutionStatus.COMPLETED, RECENT))
    before = checkpoint_file(database) if not database.is_postgres else None
    report = await prune(database, older_than_days=30, now=NOW)
    assert report.executions == count
    assert await remaining_runs(database) == {"recent"}
    async with database.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(STEP))).scalar_one() == 1
    if database.is_postgres:
        assert (report.database_bytes_before, report.database_bytes_after, report.auto_vacuum) == (None, None, None)
        return
    assert before is not None
    after = checkpoint_file(database)
    assert before > 15_000_000 and after < before / 10, (before, after)
    assert report.auto_vacuum == "incremental" and report.notes == []
    assert report.database_bytes_before is not None and report.database_bytes_before >= before
    assert report.database_bytes_freed is not None and report.database_bytes_freed > 0.9 * (before - after)


async def test_an_old_file_without_incremental_vacuum_is_reported_and_can_be_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as connection:  # as files were made before auto-vacuum was set
        connection.execute("PRAGMA auto_vacuum=NONE")
        connection.execute("CREATE TABLE legacy (x)")
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.migrate()
        await add_big_runs(database, await new_workflow(database), 300)
        before = checkpoint_file(database)
        report = await prune(database, older_than_days=30, now=NOW)
        assert report.executions == 300 and report.auto_vacuum == "none"
        assert "synthral prune --vacuum" in " ".join(report.notes)
        assert checkpoint_file(database) > 0.9 * before  # free pages are kept for reuse

        rewritten = await prune(database, older_than_days=30, now=NOW, full_vacuum=True)
        assert rewritten.auto_vacuum == "incremental" and rewritten.notes == []
        assert checkpoint_file(database) < before / 5
    finally:
        await database.close()


async def test_blobs_nothing_refers_to_go_when_older_than_the_cutoff(database: Database, tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    nested = store.put(b'{"deep": true}')
    packed = store.put(orjson.dumps({"file": nested.to_json(), "pad": "x" * 100}), media_type="application/json")
    dead, orphan, fresh = store.put(b"dead run"), store.put(b"orphan"), store.put(b"fresh")
    in_input, in_checkpoint = store.put(b"an input file"), store.put(b"in a checkpoint")
    for ref in (nested, packed, dead, orphan, in_input, in_checkpoint):
        os.utime(store.path(ref), (OLD.timestamp(), OLD.timestamp()))

    wf = await new_workflow(database)
    kept = run_rows(wf, "kept", ExecutionStatus.COMPLETED, RECENT, step_output={"$output": packed.to_json()})
    kept["execution"][0]["input"] = {"document": in_input.to_json()}
    kept["blob"][0]["blob"] = b"\x92\xc4\x47" + in_checkpoint.digest.encode()  # msgpack-ish bytes
    await add_runs(database, kept, run_rows(wf, "old", ExecutionStatus.COMPLETED, OLD, step_output=dead.to_json()))

    report = await prune(database, older_than_days=30, now=NOW, blobs=store)
    assert (report.blobs, report.blob_bytes) == (2, len(b"dead run") + len(b"orphan"))
    assert not store.exists(dead) and not store.exists(orphan)
    for ref in (nested, packed, fresh, in_input, in_checkpoint):
        assert store.exists(ref), ref
    assert report.bytes_freed >= report.blob_bytes
    assert report.to_json()["blobs"] == 2


async def test_a_grant_keeps_no_blob_alive_and_goes_with_the_blob_it_grants(database: Database, tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    uploaded, used, fresh = store.put(b"uploaded, never used"), store.put(b"used by a run"), store.put(b"fresh")
    for ref in (uploaded, used):
        os.utime(store.path(ref), (OLD.timestamp(), OLD.timestamp()))
    async with database.transaction() as connection:
        await connection.execute(insert(WORKSPACE), [{"id": "ws", "slug": "acme", "name": "Acme", "created_at": OLD}])
    await BlobGrants(database).grant("ws", [uploaded.to_json(), used.to_json(), fresh.to_json()])
    wf = await new_workflow(database)
    await add_runs(database, run_rows(wf, "kept", ExecutionStatus.COMPLETED, RECENT, step_output=used.to_json()))

    report = await prune(database, older_than_days=30, now=NOW, blobs=store)
    assert report.blobs == 1 and not store.exists(uploaded)
    async with database.engine.connect() as connection:
        granted = set((await connection.execute(select(BLOB_GRANT.c.digest))).scalars())
    assert granted == {used.digest, fresh.digest}
