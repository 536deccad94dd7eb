"""``synthral connector``: build, import from OpenAPI, document and test connectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synthral.cli.common import console, fail, print_json, run, with_service
from synthral.errors import ConfigurationError
from synthral.services.connector_build import build_connector, definition_docs, find_definition, write_project
from synthral.services.connector_openapi import import_openapi
from synthral.services.connector_testing import run_connector_test
from synthral.services.connectors import ConnectorCatalog
from synthral.services.plugins import PluginService, parse_json_option
from synthral_sdk.rest import load_definition

__all__ = ["app"]

app = typer.Typer(help="Declare, import, build, document and test connectors.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command()
def build(
    folder: Annotated[Path, typer.Argument(help="A connector folder (app.json, functions.json) or its project.")],
    out: Annotated[Path, typer.Option("--out", help="Where the wheel goes.")] = Path("dist"),
    project: Annotated[
        Path | None, typer.Option("--project", help="Only write the plugin project here (no wheel).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a connector folder and build its wheel (its own distribution and version)."""

    async def go() -> None:
        if project is not None:
            written = write_project(folder, project)
            print_json({"project": str(written)}) if as_json else console.print(f"wrote {written}")
            return
        wheel = await build_connector(folder, out)
        print_json({"wheel": str(wheel)}) if as_json else console.print(f"built {wheel}")

    run(go(), as_json=as_json)


@app.command("import-openapi")
def import_openapi_command(
    spec: Annotated[Path, typer.Argument(help="An OpenAPI 3.0/3.1 document, JSON or YAML.")],
    out: Annotated[Path, typer.Option("--out", help="The connector folder to write.")],
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Keep operations with this tag or operation id (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The app name (default: the document's title).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a definition already in --out.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a connector folder from an OpenAPI document, ready for 'connector build'."""

    async def go() -> None:
        result = import_openapi(spec, out, name=name, select=select or (), force=force)
        summary = {"app": result.app["name"], "functions": len(result.functions), "skipped": result.skipped}
        if as_json:
            print_json(summary)
            return
        console.print(f"wrote {out}: {result.app['name']} with {len(result.functions)} functions")
        for line in result.skipped:
            console.print(f"skipped {line}")

    run(go(), as_json=as_json)


@app.command()
def docs(folder: Annotated[Path, typer.Argument(help="A connector folder or project.")]) -> None:
    """Print a connector's generated documentation (Markdown)."""

    async def go() -> None:
        typer.echo(definition_docs(load_definition(find_definition(folder))), nl=False)

    run(go())


@app.command("test")
def run_test(
    slug: Annotated[str, typer.Argument(help="An installed connector, e.g. github.")],
    action: Annotated[
        str | None, typer.Option("--action", "-a", help="The action; the connection check if absent.")
    ] = None,
    input_json: Annotated[
        str | None, typer.Option("--input", "-i", help="The input as JSON; its example if absent.")
    ] = None,
    config_json: Annotated[str | None, typer.Option("--config", "-c", help="The config as JSON (base_url...).")] = None,
    secret: Annotated[list[str] | None, typer.Option(help="A credential field: NAME=VALUE (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Call one action of an installed connector (or check its connection) and report the outcome."""
    secrets: dict[str, str] = {}
    for item in secret or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(ConfigurationError(f"--secret {item!r} is not NAME=VALUE"), as_json=as_json)
        secrets[key] = value
    payload = parse_json_option(input_json, "--input") if input_json is not None else None
    config = parse_json_option(config_json, "--config") if config_json is not None else None
    if payload is not None and not isinstance(payload, dict):
        fail(ConfigurationError("--input must be a JSON object"), as_json=as_json)
    if config is not None and not isinstance(config, dict):
        fail(ConfigurationError("--config must be a JSON object"), as_json=as_json)

    async def go(service: PluginService) -> bool:
        catalog = ConnectorCatalog(service.host)
        result = await run_connector_test(
            catalog,
            catalog.get(slug),
            secrets=secrets,
            action=action,
            payload=payload,
            config=config,
        )
        if as_json:
            print_json(result.__dict__)
        else:
            state = "ok" if result.ok else "FAILED"
            console.print(f"{slug}.{result.action} {state} in {result.duration_ms:.0f} ms")
            console.print_json(json.dumps(result.output if result.ok else result.error))
        return result.ok

    if not run(with_service(go), as_json=as_json):
        raise typer.Exit(1)
