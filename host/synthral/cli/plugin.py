"""``synthral plugin ...``: install, list, inspect, enable, disable, remove, scaffold."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, cast

import orjson
import typer
from rich.table import Table

from synthral.cli.common import console, err_console, fail, print_json, run, with_service
from synthral.errors import ConfigurationError, PluginAlreadyInstalled
from synthral.plugins.permissions import GrantRequest
from synthral.services.plugin_pins import PluginUpgrades
from synthral.services.plugins import PluginService, Removal, describe_pins, plugin_to_json
from synthral.services.scaffold import scaffold_plugin
from synthral_sdk.permissions import Permissions
from synthral_sdk.types import JSONObject

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
    grant: Annotated[
        list[str] | None,
        typer.Option(
            "--grant",
            help="Grant a declared permission without asking: all, network, network=HOST[:PORT], files, "
            "paths=/folder[:ro|:rw], secrets, subprocesses, memory_mb=N, cpu=N... (repeat it).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Install a plugin version into its own venv (or mount an MCP server as one), while the host keeps running.

    The plugin's declared permissions are shown and asked about; --grant answers for scripts.
    """
    request = GrantRequest(items=grant, approve=None if as_json or not sys.stdin.isatty() else _ask)
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

            manifest = await mount_mcp_server(service.host.install, mount, reinstall=reinstall, grant=request)
        elif as_json:
            manifest = await service.install(source, reinstall=reinstall, grant=request)
        else:
            with err_console.status(f"installing {source}") as status:

                def progress(step: str) -> None:
                    status.update(step)
                    err_console.print(f"  [dim]·[/] {step}")

                def ask(name: str, version: str, declared: Permissions) -> bool:
                    status.stop()  # the question is not drawn over by the spinner
                    try:
                        return _ask(name, version, declared)
                    finally:
                        status.start()

                asking = GrantRequest(items=grant, approve=ask if request.approve is not None else None)
                manifest = await service.install(source, reinstall=reinstall, progress=progress, grant=asking)
        if as_json:
            print_json({"name": manifest.name, "version": manifest.version, "dist": manifest.dist})
            return
        names = ", ".join(str(c.get("name")) for c in manifest.capabilities)
        console.print(f"[green]installed[/] {manifest.name} {manifest.version} ({manifest.dist}): {names}")

    run(with_service(action), as_json=as_json)


def _ask(name: str, version: str, declared: Permissions) -> bool:
    """Show what a plugin asks for and ask whether to grant it (the CLI's install prompt)."""
    err_console.print(f"\n[bold]{name} {version}[/] asks to:")
    for line in declared.describe():
        err_console.print(f"  • {line}")
    return typer.confirm("Grant these permissions and install it?", default=False, err=True)


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
            sandbox = service.sandbox()
            print_json([{**plugin_to_json(item, detailed=True), "sandbox": sandbox} for item in infos])
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
                granted = item.manifest.granted().describe()
                console.print(
                    f"  granted: {'; '.join(granted) if granted else 'nothing (no network, files or secrets)'}"
                )
                declared = item.manifest.declared().describe()
                if declared != granted:
                    console.print(f"  declares: {'; '.join(declared) or 'nothing'}")
                for key, value in item.manifest.provenance.items():
                    console.print(f"  provenance {key}: {value}")
        if not as_json:
            console.print(f"sandbox: {service.sandbox()}")

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


@app.command()
def upgrade(
    name: Annotated[str, typer.Argument(help="The plugin to upgrade.")],
    to: Annotated[str, typer.Option("--to", help="The version to upgrade to.")],
    check: Annotated[
        bool, typer.Option("--check", help="Replay recorded steps against it and print the report.")
    ] = False,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Re-pin workflows to it (when the check is clean, or with --accept-changes)."),
    ] = False,
    workflow: Annotated[
        list[str] | None,
        typer.Option("--workflow", help="With --apply: a workflow to re-pin (repeat it); default all."),
    ] = None,
    accept_changes: Annotated[
        bool, typer.Option("--accept-changes", help="With --apply: re-pin even though the check found differences.")
    ] = False,
    source: Annotated[
        str | None, typer.Option("--from", help="A wheel or folder holding VERSION (default: NAME==VERSION's index).")
    ] = None,
    samples: Annotated[int, typer.Option("--samples", help="Recorded steps replayed per capability.")] = 5,
    grant: Annotated[
        list[str] | None,
        typer.Option("--grant", help="Grant what the new version declares beyond the old one's grant (see install)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check an upgrade by replaying recorded steps against the new version; apply it to workflows.

    The new version is installed beside the old one; workflows keep the old version until --apply.
    """
    from synthral.errors import ApprovalRequired, UpgradeNotClean

    if check == apply:
        fail(ConfigurationError("say what to do: --check (report only) or --apply (re-pin workflows)"), as_json=as_json)
    if (workflow or accept_changes) and not apply:
        fail(ConfigurationError("--workflow and --accept-changes go with --apply"), as_json=as_json)
    request = GrantRequest(items=grant)

    async def go() -> JSONObject:
        try:
            return await checking()
        except ApprovalRequired as exc:
            exc.message += " (--grant ITEM, repeated)"
            raise

    async def checking() -> JSONObject:
        async with _upgrades() as upgrades:
            if check:
                return (await upgrades.check(name, to, samples=samples, source=source, grant=request)).to_json()
            try:
                applied = await upgrades.apply(
                    name,
                    to,
                    workflows=workflow or [],
                    accept_changes=accept_changes,
                    samples=samples,
                    source=source,
                    grant=request,
                )
            except UpgradeNotClean as exc:
                if not as_json:
                    _print_report(cast(JSONObject, exc.details["report"]))
                exc.message += " (--accept-changes)"
                raise
            return applied.to_json()

    result = run(go(), as_json=as_json)
    if as_json:
        print_json(result)
        return
    report = result if check else result.get("report")
    if isinstance(report, dict):
        _print_report(report)
    if apply:
        _print_repinned(result)


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="The plugin whose latest applied upgrade to undo.")],
    as_json: JsonOpt = False,
) -> None:
    """Restore the plugin versions the latest 'plugin upgrade --apply' replaced in workflows."""

    async def go() -> JSONObject:
        async with _upgrades() as upgrades:
            return (await upgrades.rollback(name)).to_json()

    result = run(go(), as_json=as_json)
    if as_json:
        print_json(result)
        return
    _print_repinned(result)


@contextlib.asynccontextmanager
async def _upgrades() -> AsyncIterator[PluginUpgrades]:
    from synthral.config import Settings
    from synthral.services.app import open_app

    async with open_app(Settings.load(), local=True) as opened:
        yield PluginUpgrades(opened.plugins, opened.database, opened.engine.secrets)


def _print_report(report: JSONObject) -> None:
    samples = list(cast(list[JSONObject], report.get("samples") or []))
    outcomes = ("identical", "changed", "failing", "incompatible")
    table = Table("capability", *outcomes, title=f"{report['plugin']} → {report['to_version']}")
    for capability in sorted({str(s["capability"]) for s in samples}):
        mine = [s for s in samples if s["capability"] == capability]
        table.add_row(capability, *(str(sum(1 for s in mine if s["outcome"] == o)) for o in outcomes))
    counts = cast(JSONObject, report["counts"])
    table.add_row("[bold]total[/]", *(f"[bold]{counts[o]}[/]" for o in outcomes))
    console.print(table)
    for sample in samples:
        where = (
            f"{sample['capability']} (workflow {sample['workflow']!r}, node {sample['node_id']}, "
            f"step {sample['step_id']})"
        )
        if sample["outcome"] == "changed":
            console.print(f"[yellow]changed[/] {where}:", markup=True)
            if sample.get("reason"):  # stopped before it answered: what it asked that the record does not hold
                console.print(f"    {sample['reason']}", markup=False)
            for op in cast(list[JSONObject], sample["diff"]):
                value = f" {orjson.dumps(op['value']).decode()}" if "value" in op else ""
                console.print(f"    {op['op']} {op['path']}{value}", markup=False)
        elif sample["outcome"] in ("failing", "incompatible"):
            console.print(f"[red]{sample['outcome']}[/] {where}: {sample['reason']}", markup=True)
    for note in cast(list[str], report.get("notes") or []):
        console.print(f"note: {note}")
    verdict = (
        "[green]clean[/]: every replayed step gave the recorded output"
        if report["clean"]
        else ("[red]not clean[/]: apply with --accept-changes to re-pin anyway")
    )
    console.print(verdict)


def _print_repinned(result: JSONObject) -> None:
    for item in cast(list[JSONObject], result.get("workflows") or []):
        console.print(
            f"re-pinned {item['workflow']!r}: {result['plugin']} {item['from_version']} → {item['to_version']} "
            f"(workflow version {item['workflow_version']})"
        )
    for item in cast(list[JSONObject], result.get("skipped") or []):
        console.print(f"left {item['workflow']!r} alone: {item['why']}")
    if not result.get("workflows") and not result.get("skipped"):
        console.print("no workflow uses it; nothing was re-pinned")
