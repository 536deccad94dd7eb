"""``synthral scheduler`` and ``synthral prune``: firing cron schedules and trimming history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from synthral.cli.common import console, err_console, print_json, run

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
    from synthral.config import Settings
    from synthral.runtime import HostRuntime

    async def go() -> None:
        prune_every = prune_every_hours * 3600 if prune_every_hours > 0 else None
        runtime = HostRuntime(
            Settings.load(),
            scheduler=True,
            scheduler_interval=interval,
            misfire_grace=misfire_grace,
            prune_every=prune_every,
            wait_for_database=True,
            observe=True,
        )
        async with runtime:
            pruning = f"pruning every {prune_every_hours:g} h" if prune_every else "not pruning"
            err_console.print(
                f"scheduler {runtime.name} on {runtime.app.database.dialect}, every {interval:g} s, {pruning}"
            )
            await runtime.run_until_stopped()

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
    from synthral.config import Settings
    from synthral.engine.retention import prune as prune_history
    from synthral.services.app import open_app

    async def go() -> PruneReport:
        settings = Settings.load()
        async with open_app(settings) as app:
            return await prune_history(
                app.database,
                older_than_days=settings.engine.history_retention_days if days is None else days,
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
