"""``synthral plugin ...``: install, list, inspect, enable, disable, remove, scaffold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synthral.cli.common import console, err_console, fail, print_json, run, with_service
from synthral.errors import ConfigurationError, PluginAlreadyInstalled
from synthral.services.plugins import PluginService, Removal, describe_pins, plugin_to_json
from synthral.services.scaffold import scaffold_plugin

app = typer.Typer(help="Install and manage plugins; each version lives in its own virtualenv.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command()
def install(
    source: Annotated[
        str,
        typer.Argument(help="A .whl file, a plugin project folder, NAME==VERSION, or mcp:NAME to mount an MCP server."),
    ],
    command: Annotated[
        list[str] | None, typer.Argument(help="For mcp:NAME: the server's stdio command, after '--'.")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="For mcp:NAME: a streamable HTTP MCP endpoint.")] = None,
    package: Annotated[
        str | None, typer.Option("--package", help="For mcp:NAME: a PyPI MCP server, e.g. mcp-server-time==VERSION.")
    ] = None,
    reinstall: Annotated[bool, typer.Option("--reinstall", help="Replace the version if it is installed.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Install a plugin version into its own venv (or mount an MCP server as one), while the host keeps running."""
    mount = None
    if source.startswith("mcp:"):
        from synthral.plugins.mcp_mount import parse_mount

        try:
            mount = parse_mount(source, command=command or [], url=url, package=package)
        except ConfigurationError as exc:
            fail(exc, as_json=as_json)
    elif command or url or package:
        fail(
            ConfigurationError("a command, --url and --package are for mounting MCP servers: install mcp:NAME ..."),
            as_json=as_json,
        )

    async def action(service: PluginService) -> None:
        try:
            await installing(service)
        except PluginAlreadyInstalled as exc:
            exc.message += " (--reinstall)"
            raise

    async def installing(service: PluginService) -> None:
        if mount is not None:
            from synthral.plugins.mcp_mount import mount_mcp_server

            manifest = await mount_mcp_server(service.host.install, mount, reinstall=reinstall)
        elif as_json:
            manifest = await service.install(source, reinstall=reinstall)
        else:
            with err_console.status(f"installing {source}") as status:

                def progress(step: str) -> None:
                    status.update(step)
                    err_console.print(f"  [dim]·[/] {step}")

                manifest = await service.install(source, reinstall=reinstall, progress=progress)
        if as_json:
            print_json({"name": manifest.name, "version": manifest.version, "dist": manifest.dist})
            return
        names = ", ".join(str(c.get("name")) for c in manifest.capabilities)
        console.print(f"[green]installed[/] {manifest.name} {manifest.version} ({manifest.dist}): {names}")

    run(with_service(action), as_json=as_json)


@app.command("list")
def list_plugins(as_json: JsonOpt = False) -> None:
    """List built-in and installed plugins."""

    async def action(service: PluginService) -> None:
        infos = service.list_plugins()
        if as_json:
            print_json([plugin_to_json(info) for info in infos])
            return
        table = Table("name", "version", "enabled", "where", "capabilities")
        for info in infos:
            where = "built-in" if info.builtin else "own venv"
            table.add_row(info.name, info.version, "yes" if info.enabled else "no", where, ", ".join(info.capabilities))
        console.print(table)

    run(with_service(action), as_json=as_json)


@app.command()
def info(name: Annotated[str, typer.Argument(help="Plugin or distribution name.")], as_json: JsonOpt = False) -> None:
    """Show every installed version of a plugin: source, hashes, dependencies, process."""

    async def action(service: PluginService) -> None:
        infos = service.info(name)
        if as_json:
            print_json([plugin_to_json(item, detailed=True) for item in infos])
            return
        for item in infos:
            data = plugin_to_json(item, detailed=True)
            console.print(f"[bold]{item.name} {item.version}[/] ({item.dist})  {item.summary}")
            for key in ("enabled", "builtin", "source", "wheelSha256", "sdkVersion", "protocolVersion", "installedAt"):
                if key in data:
                    console.print(f"  {key}: {data[key]}")
            console.print(f"  capabilities: {', '.join(item.capabilities)}")
            console.print(f"  process: {data['process']}")
            if item.manifest is not None:
                console.print(f"  dependencies: {', '.join(item.manifest.requirements)}")

    run(with_service(action), as_json=as_json)


@app.command()
def remove(
    spec: Annotated[str, typer.Argument(help="NAME==VERSION, or NAME for every version.")],
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the plugin's data directory.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even though saved workflows pin it (their runs will fail).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop and delete a plugin version (or all its versions), unless saved workflows pin it."""
    from synthral.config import Settings
    from synthral.errors import PluginPinned
    from synthral.plugins.host import PluginHost
    from synthral.store.db import Database

    async def go() -> Removal:
        settings = Settings.load()
        database = Database.from_settings(settings)
        host = PluginHost(settings)
        try:
            await database.migrate()
            return await PluginService(host, database).remove(spec, purge=purge, force=force)
        except PluginPinned as exc:
            exc.message += " with --force"
            raise
        finally:
            await host.close()
            await database.close()

    removal = run(go(), as_json=as_json)
    if as_json:
        print_json([{"name": m.name, "version": m.version} for m in removal.removed])
        return
    for manifest in removal.removed:
        console.print(f"[yellow]removed[/] {manifest.name} {manifest.version}")
    if removal.broken:
        err_console.print(
            f"[bold red]these workflows pinned it; their runs will fail[/]: {describe_pins(removal.broken)}"
        )


def _toggle(spec: str, enabled: bool, as_json: bool) -> None:
    async def action(service: PluginService) -> None:
        keys = await service.set_enabled(spec, enabled)
        if as_json:
            print_json({"enabled": enabled, "plugins": list(keys)})
        else:
            console.print(f"{'enabled' if enabled else 'disabled'} {', '.join(keys)}")

    run(with_service(action), as_json=as_json)


@app.command()
def enable(spec: Annotated[str, typer.Argument(help="NAME or NAME==VERSION.")], as_json: JsonOpt = False) -> None:
    """Enable a disabled plugin version."""
    _toggle(spec, True, as_json)


@app.command()
def disable(spec: Annotated[str, typer.Argument(help="NAME or NAME==VERSION.")], as_json: JsonOpt = False) -> None:
    """Disable a plugin version without removing it; its process stops."""
    _toggle(spec, False, as_json)


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="The plugin's name, e.g. 'weather'.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to create the project.")] = Path(),
    dist: Annotated[str | None, typer.Option(help="Distribution name (default synthral-NAME).")] = None,
    first_party: Annotated[
        bool,
        typer.Option(
            "--first-party",
            help="A plugin kept in a SynthralOS checkout: take the SDK from the checkout by a relative path.",
        ),
    ] = False,
) -> None:
    """Scaffold a third-party plugin project whose tests pass out of the box."""
    from synthral.cli.common import fail
    from synthral.errors import SynthralError

    try:
        target = scaffold_plugin(name, directory, dist=dist, first_party=first_party)
    except SynthralError as exc:
        fail(exc, as_json=False)
    console.print(f"created {target}")
    console.print(f"  cd {target} && uv run pytest     # its tests and the SDK's conformance suite")
    if not first_party:
        console.print("  (it depends on synthral-sdk by version: README.md shows how to build the SDK's wheel)")
    console.print(f"  synthral plugin install {target}")
