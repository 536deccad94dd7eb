"""``synthral scheduler`` and ``synthral prune``: firing cron schedules and trimming history."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from synthral.cli.common import console, err_console, observed_process, print_json, run

if TYPE_CHECKING:
    from synthral.engine.retention import PruneReport

__all__ = ["prune", "scheduler"]


def scheduler(
    interval: Annotated[float, typer.Option(help="Seconds between looks at the schedules.", min=0.05)] = 1.0,
    prune_every_hours: Annotated[
        float,
        typer.Option(
            help="Hours between history prunes, the first at start (0: never); see WORKFLOW_HISTORY_RETENTION_DAYS.",
            min=0.0,
        ),
    ] = 24.0,
    misfire_grace: Annotated[
        float, typer.Option(help="Seconds a slot may be late and still count as on time.", min=0.0)
    ] = 60.0,
) -> None:
    """Fire cron schedules until stopped (SIGTERM or Ctrl-C); run as many as you like."""
    # Imported here: the engine (LangGraph) takes seconds to import, and other commands need none of it.
    from synthral.engine.retention import retention_days
    from synthral.engine.scheduler import Scheduler
    from synthral.services.app import open_app

    async def go() -> None:
        if prune_every_hours > 0:
            retention_days()  # a bad WORKFLOW_HISTORY_RETENTION_DAYS stops the start, not each prune
        async with open_app() as app:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
            runner = Scheduler(
                app.database,
                scheduler_id=name,
                misfire_grace=misfire_grace,
                on_fire=app.engine.notify,
                prune_every=prune_every_hours * 3600 if prune_every_hours > 0 else None,
                blobs=app.plugins.blobs,
            )
            pruning = f"pruning every {prune_every_hours:g} h" if prune_every_hours > 0 else "not pruning"
            err_console.print(f"scheduler {name} on {app.database.dialect}, every {interval:g} s, {pruning}")
            await runner.run(stop, interval)

    with observed_process():
        run(go())


def prune(
    days: Annotated[
        float | None,
        typer.Option(
            help="Keep runs that ended less than this many days ago (WORKFLOW_HISTORY_RETENTION_DAYS, 30).", min=0.0
        ),
    ] = None,
    keep_blobs: Annotated[bool, typer.Option("--keep-blobs", help="Leave unreferenced blobs in place.")] = False,
    vacuum: Annotated[
        bool,
        typer.Option(
            "--vacuum", help="Rewrite a SQLite file made without incremental auto-vacuum so it can shrink (slow)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Delete finished runs older than the retention period, then give the disk space back."""
    from synthral.engine.retention import prune as prune_history
    from synthral.services.app import open_app

    async def go() -> PruneReport:
        async with open_app() as app:
            return await prune_history(
                app.database,
                older_than_days=days,
                blobs=None if keep_blobs else app.plugins.blobs,
                full_vacuum=vacuum,
            )

    report = run(go(), as_json=as_json)
    if as_json:
        print_json(report.to_json())
        return
    console.print(f"deleted {report.executions} runs, {report.schedule_fires} fire records and {report.blobs} blobs")
    console.print(f"history kept from {report.cutoff:%Y-%m-%d %H:%M} UTC")
    if report.database_bytes_before is not None:
        console.print(
            f"database {_size(report.database_bytes_before)} -> {_size(report.database_bytes_after or 0)} "
            f"(auto_vacuum {report.auto_vacuum})"
        )
    console.print(f"{_size(report.bytes_freed)} given back")
    for note in report.notes:
        err_console.print(f"[yellow]note[/]: {note}", soft_wrap=True)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
