"""``synthral serve`` (API, and by default a worker and a scheduler) and ``synthral user``."""

from __future__ import annotations

import getpass
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from synthral.cli.common import console, err_console, run, settle_heap
from synthral.errors import ConfigurationError

if TYPE_CHECKING:
    from synthral.api.state import ServerState

__all__ = ["secrets_app", "serve", "user_app"]

user_app = typer.Typer(help="Accounts and workspaces of a server.", no_args_is_help=True)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Where ``--local`` may listen: the names its Host allow-list accepts."""
secrets_app = typer.Typer(help="The encrypted credentials' keys.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (SYNTHRAL_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (SYNTHRAL_PORT, 8000).")] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Run a worker in this process.")] = True,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run a scheduler in this process.")
    ] = True,
    concurrency: Annotated[
        int | None, typer.Option(help="Runs at once in this process's worker (WORKFLOW_WORKER_CONCURRENCY, 10).", min=1)
    ] = None,
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
    from synthral.config import Settings
    from synthral.runtime import HostRuntime

    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    settings = Settings.load().replace(server=overrides)
    if local and settings.server.host not in LOCAL_HOSTS:
        err_console.print(
            f"--local serves without sign-in, so it listens on loopback only: --host 127.0.0.1, localhost or ::1, "
            f"not {settings.server.host}"
        )
        raise typer.Exit(2)

    async def go() -> None:
        runtime = HostRuntime(
            settings, api=True, worker=worker, scheduler=scheduler, local=local, concurrency=concurrency,
            wait_for_database=True, observe=True,
        )  # fmt: skip
        async with runtime:
            if demo:
                from synthral.services.demo import load_demo_workflows

                assert runtime.server is not None
                workspace = (await runtime.server.identity.local_principal()).workspace_id if local else None
                for name in await load_demo_workflows(runtime.app.workflows, workspace_id=workspace):
                    err_console.print(f"demo workflow loaded: {name}")
            mode = "local, open the URL below" if local else "sign-in required"
            parts = [p for p, on in (("worker", worker), ("scheduler", scheduler)) if on]
            err_console.print(
                f"serving {runtime.url}/api/v1 ({mode}) on {runtime.app.database.dialect}"
                + (f" with {' and '.join(parts)}" if parts else "")
            )
            if runtime.server is not None and runtime.server.launch_token is not None:
                from synthral.api.local import launch_url

                # One plain line (no wrapping) with the other server messages on stderr, so
                # the desktop app, a script or a person finds it; stdout stays free.
                bound = int(str(runtime.url).rsplit(":", 1)[1])
                sys.stderr.write(launch_url(settings.server.host, bound, runtime.server.launch_token) + "\n")
                sys.stderr.flush()
            settle_heap()
            await runtime.run_until_stopped()

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
    from synthral.api.app import assemble, close_server
    from synthral.config import Settings
    from synthral.services.app import open_app

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
        async with open_app(Settings.load()) as app:
            state = assemble(app)
            try:
                await _create(state)
            finally:
                await close_server(state)

    async def _create(state: ServerState) -> None:
        created = await state.identity.create_user(email, password)
        console.print(f"user {created.email} ({created.id})")
        if workspace is not None:
            existing = await state.identity.workspace_by_slug(workspace)
            if existing is None:
                if role != "owner":
                    raise ConfigurationError(f"workspace {workspace!r} does not exist; its first member is its owner")
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
    from synthral.config import Settings
    from synthral.services.app import open_app

    async def go() -> int:
        async with open_app(Settings.load()) as app:
            return await app.credentials.rotate()

    count = run(go())
    console.print(f"re-sealed {count} credential(s) under the primary key")
