"""``synthral run``, ``worker`` and ``executions``: running workflows from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from synthral.cli.common import console, err_console, print_json, run, settle_heap
from synthral.services.plugins import parse_json_option

if TYPE_CHECKING:
    from synthral.services.workflows import ExecutionView

# The engine (LangGraph, SQLAlchemy) takes seconds to import: commands import it when they run.
WAITING, PAUSED, FAILED = "waiting", "paused", "failed"
TERMINAL = frozenset({"completed", "failed", "cancelled"})

executions_app = typer.Typer(help="Inspect and control workflow runs.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _print_view(view: ExecutionView) -> None:
    execution = view.execution
    console.print(f"[bold]{execution['id']}[/]  {execution['status']}  (version {execution['workflow_version']})")
    table = Table("node", "iter", "attempt", "status", "ms", "error")
    for step in view.steps:
        duration = step.get("duration_ms")
        table.add_row(
            step["node_id"],
            step["iteration"],
            str(step["attempt"]),
            step["status"],
            f"{duration:.1f}" if duration is not None else "",
            f"{step['error_type']}: {step['error_message']}" if step.get("error_type") else "",
        )
    console.print(table)
    for step in view.steps:
        details = step.get("error_details")
        trace = details.get("traceback") if isinstance(details, dict) else None
        if isinstance(trace, str):
            console.print(f"[red]{step['node_id']}[/] attempt {step['attempt']}: the plugin raised", markup=True)
            console.print(trace.rstrip(), markup=False, highlight=False, soft_wrap=True)
    if execution.get("error_message"):
        console.print(f"[red]failed at {execution.get('error_node')}[/]: {execution['error_message']}")
    if execution["status"] == WAITING:
        console.print(
            f"waiting for {execution.get('waiting_for')}; send a signal with "
            f"'synthral executions signal {execution['id']} ...'"
        )
    if execution.get("output") is not None:
        print_json(execution["output"])


def run_file(
    file: Annotated[Path, typer.Argument(help="A workflow in JSON or YAML.")],
    input_json: Annotated[str | None, typer.Option("--input", "-i", help="The run's input as JSON.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a workflow (a new version if it changed) and run it to completion on this machine."""
    from synthral.config import Settings
    from synthral.engine.loader import load_workflow
    from synthral.runtime import HostRuntime

    async def go() -> ExecutionView:
        # This machine's user: plugins may reach loopback addresses.
        runtime = HostRuntime(Settings.load(), worker=True, local=True, observe=True, concurrency=4, poll_interval=0.2)
        async with runtime:
            workflow = load_workflow(file)
            saved = await runtime.app.workflows.save(workflow)
            payload = parse_json_option(input_json, "--input")
            execution_id = await runtime.app.workflows.start(saved.workflow_id, payload)  # type: ignore[arg-type]
            return await runtime.wait_for(execution_id)

    view = run(go(), as_json=as_json)
    if as_json:
        print_json({"execution": view.execution, "steps": view.steps})  # type: ignore[dict-item]
    else:
        _print_view(view)
    if view.status == FAILED:
        raise typer.Exit(1)


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Runs at once (default: WORKFLOW_WORKER_CONCURRENCY, 10).", min=1)
    ] = None,
) -> None:
    """Claim and run workflow executions until stopped (SIGTERM or Ctrl-C)."""
    from synthral.config import Settings
    from synthral.runtime import HostRuntime

    async def go() -> None:
        async with HostRuntime(
            Settings.load(), worker=True, observe=True, concurrency=concurrency, wait_for_database=True
        ) as runtime:
            err_console.print(
                f"worker {runtime.app.engine.worker_id} on {runtime.app.database.dialect}, "
                f"concurrency {runtime.concurrency}"
            )
            settle_heap()
            await runtime.run_until_stopped()

    run(go())


@executions_app.command("list")
def list_executions(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow (name or id).")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 50,
    before: Annotated[str | None, typer.Option(help="Page: executions older than this id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List executions, newest first."""
    from synthral.config import Settings
    from synthral.services.app import open_app

    async def go() -> list[dict[str, Any]]:
        async with open_app(Settings.load()) as app:
            return await app.workflows.executions(workflow=workflow, status=status, limit=limit, before=before)

    rows = run(go(), as_json=as_json)
    if as_json:
        print_json(rows)  # type: ignore[arg-type]
        return
    table = Table("id", "status", "version", "trigger", "started", "error")
    for row in rows:
        table.add_row(
            row["id"],
            row["status"],
            str(row["workflow_version"]),
            row["trigger"],
            str(row["started_at"]),
            row.get("error_message") or "",
        )
    console.print(table)


@executions_app.command("show")
def show(execution_id: str, as_json: JsonOpt = False) -> None:
    """One execution with every step attempt."""
    from synthral.config import Settings
    from synthral.services.app import open_app

    async def go() -> ExecutionView:
        async with open_app(Settings.load()) as app:
            return await app.workflows.execution(execution_id)

    view = run(go(), as_json=as_json)
    if as_json:
        print_json({"execution": view.execution, "steps": view.steps})  # type: ignore[dict-item]
    else:
        _print_view(view)


@executions_app.command("replay")
def replay(
    execution_id: str,
    from_node: Annotated[
        str | None, typer.Option("--from", help="Re-run from this node (default: the failed step).")
    ] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Run the workflow's latest version.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a finished execution again, reusing the outputs of the steps before the restart point."""
    from synthral.config import Settings
    from synthral.services.app import open_app

    async def go() -> str:
        async with open_app(Settings.load()) as app:
            return await app.workflows.replay(execution_id, from_node=from_node, latest=latest)

    new_id = run(go(), as_json=as_json)
    print_json({"execution_id": new_id}) if as_json else console.print(f"queued replay {new_id}; a worker runs it")


def _control(action: str, execution_id: str, as_json: bool) -> None:
    from synthral.config import Settings
    from synthral.services.app import open_app

    async def go() -> None:
        async with open_app(Settings.load()) as app:
            await getattr(app.workflows, action)(execution_id)

    run(go(), as_json=as_json)
    print_json({"execution_id": execution_id, "requested": action}) if as_json else console.print(
        f"{action} {execution_id}"
    )


@executions_app.command("cancel")
def cancel(execution_id: str, as_json: JsonOpt = False) -> None:
    """Cancel a run."""
    _control("cancel", execution_id, as_json)


@executions_app.command("pause")
def pause(execution_id: str, as_json: JsonOpt = False) -> None:
    """Pause a run at its next step boundary."""
    _control("pause", execution_id, as_json)


@executions_app.command("resume")
def resume(execution_id: str, as_json: JsonOpt = False) -> None:
    """Resume a paused run."""
    _control("resume", execution_id, as_json)


@executions_app.command("signal")
def send_signal(
    execution_id: str,
    signal_type: Annotated[
        str, typer.Option("--type", help="human_input, webhook, connector_ready or custom.")
    ] = "custom",
    name: Annotated[str, typer.Option(help="For custom signals: the name a wait_signal node waits for.")] = "",
    data: Annotated[str | None, typer.Option(help="The payload as JSON.")] = None,
    dedupe_key: Annotated[str | None, typer.Option(help="Sending twice with one key delivers once.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a signal to a run (a human's answer, a webhook, a custom event)."""
    from synthral.config import Settings
    from synthral.services.app import open_app

    async def go() -> bool:
        async with open_app(Settings.load()) as app:
            payload = parse_json_option(data, "--data")
            return await app.workflows.signal(
                execution_id,
                signal_type=signal_type,
                name=name,
                data=payload if isinstance(payload, dict) else {"value": payload},
                dedupe_key=dedupe_key,
            )

    delivered = run(go(), as_json=as_json)
    if as_json:
        print_json({"delivered": delivered})
    else:
        console.print("delivered" if delivered else "duplicate: already delivered")
