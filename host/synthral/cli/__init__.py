"""The ``synthral`` command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from synthral import __version__
from synthral.cli import blob, connector, desktop, logs, mcp, plugin, scheduling, server, workflows
from synthral.cli.common import configure_logging, console, print_json, run, with_service
from synthral.errors import ConfigurationError, InvocationTimeout, UnknownOperation
from synthral.services.plugins import PluginService, capability_to_json, parse_json_option

__all__ = ["app", "main"]

app = typer.Typer(
    help="SynthralOS: durable AI automation with plugins in their own virtualenvs. Data lives in $SYNTHRAL_HOME "
    "(default ~/.synthral).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(plugin.app, name="plugin")
app.add_typer(blob.app, name="blob")
app.add_typer(connector.app, name="connector")
app.add_typer(mcp.app, name="mcp")
app.add_typer(workflows.executions_app, name="executions")
app.command("run")(workflows.run_file)
app.command("worker")(workflows.worker)
app.command("scheduler")(scheduling.scheduler)
app.command("prune")(scheduling.prune)
app.command("serve")(server.serve)
app.command("logs")(logs.logs)
app.command("desktop", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(desktop.desktop)
app.add_typer(server.user_app, name="user")
app.add_typer(server.secrets_app, name="secrets")


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")] = False) -> None:
    configure_logging(verbose)


@app.command()
def version() -> None:
    """Print the host and SDK versions."""
    import synthral_sdk

    console.print(
        f"synthral {__version__} (synthral-sdk {synthral_sdk.__version__}, protocol {synthral_sdk.PROTOCOL_VERSION})"
    )


@app.command()
def capabilities(
    kind: Annotated[str | None, typer.Option(help="Only this kind: node, ocr_engine, connector...")] = None,
    plugin_name: Annotated[str | None, typer.Option("--plugin", help="Only this plugin.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with schemas) for scripts.")] = False,
) -> None:
    """List the capability catalog of every enabled plugin."""

    async def action(service: PluginService) -> None:
        entries = service.capabilities(kind=kind, plugin=plugin_name)
        if as_json:
            print_json([capability_to_json(entry) for entry in entries])
            return
        table = Table("capability", "kind", "version", "operations", "title")
        for entry in entries:
            table.add_row(
                entry.ref, entry.spec.kind.value, entry.version, ", ".join(entry.spec.operations), entry.spec.title
            )
        console.print(table)

    run(with_service(action), as_json=as_json)


@app.command()
def invoke(
    ref: Annotated[str, typer.Argument(help="PLUGIN/CAPABILITY, e.g. http/request.")],
    input_json: Annotated[str, typer.Option("--input", "-i", help="The input as JSON.")] = "{}",
    config_json: Annotated[str | None, typer.Option("--config", "-c", help="The config as JSON.")] = None,
    operation: Annotated[str | None, typer.Option("--operation", "-o", help="Needed when there are several.")] = None,
    version_pin: Annotated[str | None, typer.Option("--version", help="Call this installed version.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds before the call is cancelled.")] = None,
    secret: Annotated[list[str] | None, typer.Option(help="Grant a secret: NAME=VALUE (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the output JSON.")] = False,
) -> None:
    """Call one capability once and print its output (for debugging)."""
    secrets: dict[str, str] = {}
    for item in secret or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            from synthral.cli.common import fail

            fail(ConfigurationError(f"--secret {item!r} is not NAME=VALUE"), as_json=as_json)
        secrets[name] = value

    async def action(service: PluginService) -> None:
        try:
            output = await service.invoke(
                ref,
                payload=parse_json_option(input_json, "--input"),
                config=parse_json_option(config_json, "--config"),
                operation=operation,
                version=version_pin,
                timeout=timeout,
                secrets=secrets,
            )
        except UnknownOperation as exc:
            exc.message += " with --operation"
            raise
        except InvocationTimeout as exc:
            # The plugin host speaks of a workflow node's timeout; here the call's limit is --timeout.
            limit = exc.details.get("timeout", timeout)
            exc.message = (
                f"{ref} did not answer within {limit} s and was cancelled; pass a longer --timeout (seconds) "
                "if the work is legitimately slow"
            )
            raise
        print_json(output)

    run(with_service(action), as_json=as_json)


@app.command()
def demo() -> None:
    """Install the first-party plugins into their own venvs and run a few calls end to end."""
    from synthral.config import Settings
    from synthral.demo import run_demo

    async def go() -> None:
        await run_demo(Settings.load())

    run(go())


def main() -> None:
    """Entry point of the ``synthral`` script."""
    app()
