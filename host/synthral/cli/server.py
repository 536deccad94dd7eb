"""``synthral serve`` (API, and by default a worker and a scheduler) and ``synthral user``."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import socket
import sys
import uuid
from typing import Annotated

import typer

from synthral.cli.common import console, err_console, observed_process, run, settle_heap
from synthral.errors import ConfigurationError

__all__ = ["secrets_app", "serve", "user_app"]

user_app = typer.Typer(help="Accounts and workspaces of a server.", no_args_is_help=True)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Where ``--local`` may listen: the names its Host allow-list accepts."""
secrets_app = typer.Typer(help="The encrypted credentials' keys.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = os.environ.get("SYNTHRAL_HOST", "127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = int(os.environ.get("SYNTHRAL_PORT", "8000")),
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Run a worker in this process.")] = True,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run a scheduler in this process.")
    ] = True,
    concurrency: Annotated[int, typer.Option(help="Runs at once in this process's worker.")] = int(
        os.environ.get("WORKFLOW_WORKER_CONCURRENCY", "10")
    ),
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Single-user desktop mode: no sign-in but a per-launch token (printed as a URL); loopback only.",
        ),
    ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo workflows (local mode).")] = False,
) -> None:
    """Serve the API (and run a worker and a scheduler) until stopped (SIGTERM or Ctrl-C)."""
    if local and host not in LOCAL_HOSTS:
        err_console.print(
            f"--local serves without sign-in, so it listens on loopback only: --host 127.0.0.1, localhost or ::1, "
            f"not {host}"
        )
        raise typer.Exit(2)
    import uvicorn

    from synthral.api.app import create_app, open_server
    from synthral.engine.scheduler import Scheduler
    from synthral.engine.worker import Worker

    async def go() -> None:
        async with open_server(local=local) as state:
            host_app = state.app
            if demo:
                from synthral.services.demo import load_demo_workflows

                workspace = (await state.identity.local_principal()).workspace_id if local else None
                for name in await load_demo_workflows(host_app.workflows, workspace_id=workspace):
                    err_console.print(f"demo workflow loaded: {name}")
            config = uvicorn.Config(
                create_app(state), host=host, port=port, log_level="warning", lifespan="off", access_log=False
            )
            server = uvicorn.Server(config)
            from synthral.api.local import launch_url
            from synthral.security.redact import install_log_redaction

            install_log_redaction(*(logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error")))
            tasks: list[asyncio.Task[None]] = []
            process_worker = Worker(host_app.engine, concurrency=concurrency) if worker else None
            stop = asyncio.Event()
            if process_worker is not None:
                tasks.append(asyncio.create_task(process_worker.run()))
            if scheduler:
                name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
                runner = Scheduler(
                    host_app.database, scheduler_id=name, on_fire=host_app.engine.notify, blobs=host_app.plugins.blobs
                )
                tasks.append(asyncio.create_task(runner.run(stop, 1.0)))
            settle_heap()
            serving = asyncio.create_task(server.serve())
            try:
                while not server.started and not serving.done():  # noqa: ASYNC110 -- uvicorn has only the flag
                    await asyncio.sleep(0.02)
                if serving.done():
                    await serving
                    return
                bound = server.servers[0].sockets[0].getsockname()[1]
                mode = "local, open the URL below" if local else "sign-in required"
                parts = [p for p, on in (("worker", worker), ("scheduler", scheduler)) if on]
                shown = f"[{host}]" if ":" in host else host
                err_console.print(
                    f"serving http://{shown}:{bound}/api/v1 ({mode}) on {host_app.database.dialect}"
                    + (f" with {' and '.join(parts)}" if parts else "")
                )
                if state.launch_token is not None:
                    # One plain line (no wrapping) with the other server messages on stderr, so
                    # the desktop app, a script or a person finds it; stdout stays free.
                    sys.stderr.write(launch_url(host, bound, state.launch_token) + "\n")
                    sys.stderr.flush()
                await serving
            finally:
                stop.set()
                if process_worker is not None:
                    process_worker.stop()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    with observed_process():
        run(go())


@user_app.command("create")
def create_user(
    email: Annotated[str, typer.Argument(help="The login email.")],
    workspace: Annotated[str | None, typer.Option(help="Add to this workspace (slug); created if missing.")] = None,
    role: Annotated[str, typer.Option(help="Role in the workspace: owner, editor or viewer.")] = "owner",
    password_env: Annotated[
        str | None, typer.Option(help="Read the password from this environment variable instead of a prompt.")
    ] = None,
) -> None:
    """Create an account (and optionally a workspace it belongs to)."""
    from synthral.api.app import open_server

    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            err_console.print(f"{password_env} is not set; export the password in it, or omit --password-env")
            raise typer.Exit(2)
    else:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            err_console.print("the two passwords differ")
            raise typer.Exit(2)

    async def go() -> None:
        async with open_server() as state:
            created = await state.identity.create_user(email, password)
            console.print(f"user {created.email} ({created.id})")
            if workspace is not None:
                existing = await state.identity.workspace_by_slug(workspace)
                if existing is None:
                    if role != "owner":
                        raise ConfigurationError(
                            f"workspace {workspace!r} does not exist; its first member is its owner"
                        )
                    made = await state.identity.create_workspace(workspace, workspace, owner_id=created.id)
                    console.print(f"workspace {made.slug} ({made.id}), owner")
                else:
                    await state.identity.add_member(existing.id, created.id, role)
                    console.print(f"member of {existing.slug} as {role}")

    run(go())


@secrets_app.command("rotate")
def rotate_secrets() -> None:
    """Re-seal every credential under the primary key (the first of SYNTHRAL_SECRET_KEYS).

    Add the new key first in SYNTHRAL_SECRET_KEYS with the old one after it, restart the
    processes, run this, then retire the old key. Runs in flight keep working throughout.
    """
    from synthral.services.app import open_app

    async def go() -> int:
        async with open_app() as app:
            return await app.credentials.rotate()

    count = run(go())
    console.print(f"re-sealed {count} credential(s) under the primary key")
