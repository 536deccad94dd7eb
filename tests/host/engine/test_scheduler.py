"""The cron scheduler on both backends: slots, catch-up, time zones, several schedulers at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, update

from synthral.config import EngineSettings, Settings
from synthral.engine.model import Workflow
from synthral.engine.repository import save_workflow
from synthral.engine.runtime import Engine
from synthral.engine.scheduler import MAX_SLOTS_PER_TICK, Scheduler
from synthral.engine.schedules import SCHEDULE, as_utc, due_slots, next_fire, sync_schedules
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, SCHEDULE_FIRE, WORKFLOW, ExecutionStatus

T0 = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)  # a Monday, on the hour


def cron_workflow(name: str, cron: str, **trigger: Any) -> Workflow:
    return Workflow.model_validate(
        {
            "name": name,
            "nodes": [{"id": "stamp", "type": "core/set", "config": {"values": {"ran": True}}}],
            "edges": [],
            "triggers": [{"type": "cron", "cron": cron, **trigger}],
        }
    )


async def add_schedule(database: Database, workflow: Workflow, first: datetime | None = None) -> str:
    """Save the workflow as the service does and return its schedule's id, due from ``first``."""
    async with database.transaction() as connection:
        saved = await save_workflow(connection, workflow, {})
        await sync_schedules(connection, saved.workflow_id, workflow)
        schedule_id: str = (
            await connection.execute(select(SCHEDULE.c.id).where(SCHEDULE.c.workflow_id == saved.workflow_id))
        ).scalar_one()
        if first is not None:
            await connection.execute(update(SCHEDULE).where(SCHEDULE.c.id == schedule_id).values(next_run_at=first))
    return schedule_id


async def schedule_row(database: Database, schedule_id: str) -> Any:
    async with database.engine.connect() as connection:
        return (await connection.execute(select(SCHEDULE).where(SCHEDULE.c.id == schedule_id))).one()


async def fired_slots(database: Database, schedule_id: str) -> list[datetime]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(SCHEDULE_FIRE.c.slot).where(SCHEDULE_FIRE.c.schedule_id == schedule_id))
        return sorted(as_utc(slot) for (slot,) in rows)


async def cron_runs(database: Database) -> list[Any]:
    async with database.engine.connect() as connection:
        return list(await connection.execute(select(EXECUTION).where(EXECUTION.c.trigger == "cron")))


def minutes(start: datetime, count: int, step: int = 1) -> list[datetime]:
    return [start + timedelta(minutes=step * i) for i in range(count)]


async def test_a_due_slot_fires_once_with_the_trigger_input_and_its_time(database: Database) -> None:
    workflow = cron_workflow("report", "*/5 * * * *", input={"report": "sales"})
    schedule_id = await add_schedule(database, workflow, first=T0)
    calls: list[int] = []
    scheduler = Scheduler(database, scheduler_id="s1", on_fire=lambda: calls.append(1))

    assert (await scheduler.tick(T0 - timedelta(seconds=1))).fired == []  # not yet
    report = await scheduler.tick(T0 + timedelta(seconds=3))
    assert [(f.schedule_id, f.slot) for f in report.fired] == [(schedule_id, T0)]
    assert calls == [1]
    (run,) = await cron_runs(database)
    assert run.id == report.fired[0].execution_id
    assert run.status == ExecutionStatus.QUEUED and run.workflow_version == 1
    assert run.input == {"report": "sales", "scheduled_for": "2025-01-06T12:00:00+00:00"}
    async with database.engine.connect() as connection:
        fire = (await connection.execute(select(SCHEDULE_FIRE))).one()
    assert (fire.execution_id, fire.fired_by) == (run.id, "s1")
    row = await schedule_row(database, schedule_id)
    assert as_utc(row.next_run_at) == T0 + timedelta(minutes=5)
    assert as_utc(row.last_run_at) == T0
    assert (row.fired_count, row.missed_count) == (1, 0)

    assert (await scheduler.tick(T0 + timedelta(seconds=30))).fired == []  # the slot is done
    assert len(await cron_runs(database)) == 1


async def test_a_slot_already_recorded_in_schedule_fire_is_not_fired_again(database: Database) -> None:
    schedule_id = await add_schedule(database, cron_workflow("guarded", "*/5 * * * *"), first=T0)
    async with database.transaction() as connection:  # fired by another scheduler that then failed to move on
        await connection.execute(SCHEDULE_FIRE.insert().values(schedule_id=schedule_id, slot=T0, fired_by="other"))
    report = await Scheduler(database, scheduler_id="s").tick(T0 + timedelta(minutes=5, seconds=1))
    assert [f.slot for f in report.fired] == [T0 + timedelta(minutes=5)]
    assert report.already_fired == 1
    assert [run.input["scheduled_for"] for run in await cron_runs(database)] == ["2025-01-06T12:05:00+00:00"]
    assert (await schedule_row(database, schedule_id)).fired_count == 1


async def test_scheduled_runs_start_the_latest_version(database: Database) -> None:
    schedule_id = await add_schedule(database, cron_workflow("evolving", "0 * * * *"), first=T0)
    changed = cron_workflow("evolving", "0 * * * *", input={"v": 2})
    async with database.transaction() as connection:
        saved = await save_workflow(connection, changed, {})
        await sync_schedules(connection, saved.workflow_id, changed)
    await Scheduler(database, scheduler_id="s").tick(T0)
    (run,) = await cron_runs(database)
    assert (run.workflow_version, run.input["v"]) == (2, 2)
    assert (await schedule_row(database, schedule_id)).fired_count == 1


@pytest.mark.parametrize(
    ("catch_up", "fired", "missed"),
    [
        ("skip", [60], 6),  # only the on-time slot
        ("once", [50, 60], 5),  # the latest missed slot stands for the others
        ("all", [0, 10, 20, 30, 40, 50, 60], 0),
    ],
)
async def test_missed_slots_follow_the_catch_up_policy(
    database: Database, catch_up: str, fired: list[int], missed: int
) -> None:
    schedule_id = await add_schedule(database, cron_workflow("c", "*/10 * * * *", catch_up=catch_up), first=T0)
    now = T0 + timedelta(minutes=60, seconds=10)  # down for an hour; the last slot is 10 s late
    report = await Scheduler(database, scheduler_id="s", misfire_grace=60).tick(now)
    assert [f.slot for f in report.fired] == [T0 + timedelta(minutes=m) for m in fired]
    assert report.missed == missed
    row = await schedule_row(database, schedule_id)
    assert (row.fired_count, row.missed_count) == (len(fired), missed)
    assert as_utc(row.next_run_at) == T0 + timedelta(minutes=70)
    assert await fired_slots(database, schedule_id) == [T0 + timedelta(minutes=m) for m in fired]


@pytest.mark.parametrize("catch_up", ["all", "once"])
async def test_a_long_outage_is_worked_off_in_ticks_of_bounded_work(database: Database, catch_up: str) -> None:
    assert Scheduler(database, scheduler_id="default").max_slots == MAX_SLOTS_PER_TICK == 1_000
    cap = 100
    outage = 2 * cap + 50
    schedule_id = await add_schedule(database, cron_workflow("busy", "* * * * *", catch_up=catch_up), first=T0)
    now = T0 + timedelta(minutes=outage, seconds=5)  # slots T0 .. T0+outage; the last is on time
    scheduler = Scheduler(database, scheduler_id="s", max_slots=cap)
    reports = [await scheduler.tick(now) for _ in range(4)]
    assert [r.backlog for r in reports] == [True, True, False, False]
    row = await schedule_row(database, schedule_id)
    assert as_utc(row.next_run_at) == now.replace(second=0) + timedelta(minutes=1)
    slots = await fired_slots(database, schedule_id)
    if catch_up == "all":
        assert [len(r.fired) for r in reports] == [cap, cap, 51, 0]
        assert slots == minutes(T0, outage + 1)
        assert row.missed_count == 0
    else:
        assert slots == [T0 + timedelta(minutes=outage - 1), T0 + timedelta(minutes=outage)]
        assert row.missed_count == outage - 1
    assert len(await cron_runs(database)) == len(slots) == row.fired_count


async def test_two_schedulers_ticking_together_fire_every_slot_exactly_once(database: Database) -> None:
    schedules = {
        await add_schedule(database, cron_workflow(f"w{i}", "* * * * *", catch_up=policy), first=T0): policy
        for i, policy in enumerate(["all", "skip", "once", "all"])
    }
    other = Database(database.engine.url.render_as_string(hide_password=False))
    first, second = Scheduler(database, scheduler_id="a"), Scheduler(other, scheduler_id="b")
    by_scheduler: dict[str, list[tuple[str, datetime]]] = {"a": [], "b": []}
    try:
        for step in range(40):
            # 20 s apart, the two clocks 1.5 s apart: every third pair of ticks straddles a slot.
            now = T0 + timedelta(seconds=20 * step)
            reports = await asyncio.gather(first.tick(now), second.tick(now + timedelta(seconds=1.5)))
            for name, report in zip("ab", reports, strict=True):
                assert report.errors == []
                by_scheduler[name] += [(f.schedule_id, f.slot) for f in report.fired]
        end = T0 + timedelta(seconds=20 * 40)
        await asyncio.gather(first.tick(end), second.tick(end))
    finally:
        await other.close()
    expected = minutes(T0, 14)  # 12:00 .. 12:13:20 holds 14 minute slots
    both = by_scheduler["a"] + by_scheduler["b"]
    assert len(both) == len(set(both)) == len(schedules) * len(expected)
    for schedule_id in schedules:
        assert await fired_slots(database, schedule_id) == expected
        row = await schedule_row(database, schedule_id)
        assert (row.fired_count, row.missed_count) == (len(expected), 0)
    runs = await cron_runs(database)
    assert len(runs) == len({(r.workflow_id, r.input["scheduled_for"]) for r in runs}) == len(both)


async def test_schedules_fire_in_their_time_zone_through_daylight_saving(database: Database) -> None:
    workflow = cron_workflow("paris", "0 9 * * *", timezone="Europe/Paris")
    schedule_id = await add_schedule(database, workflow)
    stored = as_utc((await schedule_row(database, schedule_id)).next_run_at)
    assert stored == next_fire("0 9 * * *", "Europe/Paris", datetime.now(UTC))  # kept in UTC, also on SQLite
    assert stored.hour in (7, 8)

    scheduler = Scheduler(database, scheduler_id="s")
    async with database.transaction() as connection:
        await connection.execute(
            update(SCHEDULE).where(SCHEDULE.c.id == schedule_id).values(next_run_at=datetime(2025, 3, 29, tzinfo=UTC))
        )
    winter = datetime(2025, 3, 29, 8, 0, 20, tzinfo=UTC)  # 09:00 CET
    summer = datetime(2025, 3, 30, 7, 0, 20, tzinfo=UTC)  # 09:00 CEST, the day the clocks go forward
    assert (await scheduler.tick(winter - timedelta(minutes=1))).fired == []
    assert [f.slot for f in (await scheduler.tick(winter)).fired] == [winter.replace(second=0)]
    assert (await scheduler.tick(summer - timedelta(minutes=1))).fired == []
    assert [f.slot for f in (await scheduler.tick(summer)).fired] == [summer.replace(second=0)]
    runs = sorted(run.input["scheduled_for"] for run in await cron_runs(database))
    assert runs == ["2025-03-29T09:00:00+01:00", "2025-03-30T09:00:00+02:00"]


def utc_slots(cron: str, start: datetime, hours: int) -> list[str]:
    slots, _ = due_slots(cron, "Europe/Paris", start, start + timedelta(hours=hours), 100)
    return [slot.strftime("%d %H:%M") for slot in slots]


def test_the_skipped_hour_fires_an_hour_later_and_the_repeated_hour_fires_twice() -> None:
    spring = datetime(2025, 3, 29, 23, tzinfo=UTC)  # clocks go 02:00 -> 03:00 on 30 March
    assert utc_slots("30 2 * * *", spring, 24) == ["30 01:30"]  # 03:30 CEST
    assert utc_slots("0 2 * * *", spring, 24) == ["30 01:00"]  # 03:00 CEST
    assert utc_slots("15 * * * *", spring, 4) == ["29 23:15", "30 00:15", "30 01:15", "30 02:15"]
    autumn = datetime(2025, 10, 25, 23, tzinfo=UTC)  # clocks go 03:00 -> 02:00 on 26 October
    assert utc_slots("30 2 * * *", autumn, 24) == ["26 00:30", "26 01:30"]  # 02:30 CEST, then 02:30 CET
    half_hours = utc_slots("*/30 * * * *", autumn, 4)
    assert half_hours == [
        "25 23:00",
        "25 23:30",
        "26 00:00",
        "26 00:30",
        "26 01:00",
        "26 01:30",
        "26 02:00",
        "26 02:30",
        "26 03:00",
    ]


async def test_inactive_workflows_and_removed_triggers_do_not_fire(database: Database) -> None:
    schedule_id = await add_schedule(database, cron_workflow("paused", "*/10 * * * *", catch_up="all"), first=T0)
    async with database.transaction() as connection:
        await connection.execute(update(WORKFLOW).where(WORKFLOW.c.name == "paused").values(is_active=False))
    scheduler = Scheduler(database, scheduler_id="s")
    report = await scheduler.tick(T0 + timedelta(hours=1, seconds=5))
    assert (report.fired, report.inactive, report.missed) == ([], 1, 0)
    row = await schedule_row(database, schedule_id)
    assert as_utc(row.next_run_at) == T0 + timedelta(hours=1, minutes=10)  # not caught up when reactivated
    assert (row.fired_count, row.missed_count) == (0, 0)

    removed = await add_schedule(database, cron_workflow("gone", "*/10 * * * *"), first=T0)
    manual = Workflow.model_validate({**cron_workflow("gone", "* * * * *").model_dump(), "triggers": []})
    async with database.transaction() as connection:
        saved = await save_workflow(connection, manual, {})
        await sync_schedules(connection, saved.workflow_id, manual)
    assert (await scheduler.tick(T0 + timedelta(hours=2))).fired == []
    async with database.engine.connect() as connection:
        assert (await connection.execute(select(SCHEDULE).where(SCHEDULE.c.id == removed))).first() is None
    assert await cron_runs(database) == []


async def test_a_fired_run_is_executed_by_a_worker_woken_by_on_fire(database: Database, settings: Settings) -> None:
    plugins = PluginHost(settings)
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    worker = Worker(engine, concurrency=2, poll_interval=30.0)  # only a notify wakes it in time
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.5)  # the worker has looked at the empty queue and sleeps
        await add_schedule(database, cron_workflow("live", "* * * * *"), first=datetime.now(UTC) - timedelta(minutes=1))
        report = await Scheduler(database, scheduler_id="s", on_fire=engine.notify).tick()
        assert len(report.fired) >= 1
        deadline = time.monotonic() + 20
        while True:
            runs = await cron_runs(database)
            if runs and all(run.status == ExecutionStatus.COMPLETED for run in runs):
                break
            assert time.monotonic() < deadline, [run.status for run in runs]
            await asyncio.sleep(0.05)
        assert {run.output["stamp"]["data"]["ran"] for run in runs} == {True}
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await plugins.close()


async def test_run_loops_until_stopped_and_prunes_history(database: Database) -> None:
    schedule_id = await add_schedule(
        database, cron_workflow("loop", "* * * * *", catch_up="all"), first=datetime.now(UTC) - timedelta(minutes=3)
    )
    workflow_id = (await schedule_row(database, schedule_id)).workflow_id
    old = datetime.now(UTC) - timedelta(days=90)
    async with database.transaction() as connection:
        await connection.execute(
            EXECUTION.insert().values(
                id="old-run", workflow_id=workflow_id, workflow_version=1, status=ExecutionStatus.COMPLETED,
                trigger="manual", input={}, started_at=old, completed_at=old,
            )
        )  # fmt: skip
    stop = asyncio.Event()
    scheduler = Scheduler(database, scheduler_id="s", prune_every=3600, prune_days=30)
    task = asyncio.create_task(scheduler.run(stop, interval=0.05))
    deadline = time.monotonic() + 20
    while len(await cron_runs(database)) < 3 or await _count(database, EXECUTION.c.id == "old-run"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert (await schedule_row(database, schedule_id)).fired_count >= 3


async def _count(database: Database, condition: Any) -> int:
    async with database.engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(EXECUTION).where(condition))).scalar_one()
        )


def cli(command: str, database: Database, home: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """``synthral scheduler`` or ``synthral prune`` in its own process, on the test's database."""
    env = {
        **os.environ,
        "SYNTHRAL_HOME": str(home),
        "SYNTHRAL_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
    }
    return subprocess.Popen([sys.executable, "-m", "synthral", command, *args], env=env, text=True, **popen)


async def test_the_scheduler_and_prune_commands_in_their_own_processes(tmp_path: Path) -> None:
    """Two ``synthral scheduler`` processes fire each slot once; ``synthral prune`` reports as JSON."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'synthral.db'}")
    await database.migrate()
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    schedule_id = await add_schedule(database, cron_workflow("cli", "* * * * *", catch_up="all"), first=first)
    old = datetime.now(UTC) - timedelta(days=90)
    workflow_id = (await schedule_row(database, schedule_id)).workflow_id
    async with database.transaction() as connection:
        await connection.execute(
            EXECUTION.insert().values(
                id="old-run", workflow_id=workflow_id, workflow_version=1, status=ExecutionStatus.COMPLETED,
                trigger="manual", input={}, started_at=old, completed_at=old,
            )
        )  # fmt: skip
    logs = [tmp_path / f"scheduler-{i}.log" for i in range(2)]
    home = tmp_path / "home"
    processes = []
    for log in logs:
        with log.open("w") as sink:
            args = ("--interval", "0.1", "--prune-every-hours", "0")
            processes.append(cli("scheduler", database, home, *args, stdout=sink, stderr=sink))
    pruning = cli("prune", database, home, "--days", "30", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not all("not pruning" in log.read_text() for log in logs):  # both started (and handle SIGTERM)
            assert time.monotonic() < deadline, f"a scheduler did not start; logs: {[p.read_text() for p in logs]}"
            await asyncio.sleep(0.1)
        while len(slots := await fired_slots(database, schedule_id)) < 31:
            assert time.monotonic() < deadline, f"{len(slots)} slots fired; logs: {[p.read_text() for p in logs]}"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # both keep ticking; nothing fires twice
        printed, err = pruning.communicate(timeout=40)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=20) for process in processes]
        pruning.kill()
    assert codes == [0, 0], [log.read_text() for log in logs]
    slots = await fired_slots(database, schedule_id)
    assert slots == minutes(first, len(slots)) and len(slots) in (31, 32)
    runs = await cron_runs(database)
    assert len(runs) == len({run.input["scheduled_for"] for run in runs}) == len(slots)
    for log in logs:
        assert "on sqlite, every 0.1 s, not pruning" in log.read_text()
    assert pruning.returncode == 0, (printed, err)
    report = orjson.loads(printed)
    assert (report["executions"], report["backend"], report["auto_vacuum"]) == (1, "sqlite", "incremental")
    assert await _count(database, EXECUTION.c.id == "old-run") == 0
    await database.close()
