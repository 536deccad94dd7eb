"""What every command shares: running async services, printing, and mapping errors to exit codes."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import NoReturn, TypeVar

import orjson
import typer
from rich.console import Console

from synthral.config import Settings
from synthral.errors import Cancelled, ConfigurationError, RetryableError, SynthralError
from synthral.plugins.host import PluginHost
from synthral.process import configure_logging, run_loop, settle_heap
from synthral.security.egress import EgressSettings
from synthral.services.plugins import PluginService
from synthral_sdk.types import JSONValue

__all__ = [
    "configure_logging",
    "console",
    "err_console",
    "fail",
    "print_json",
    "run",
    "run_loop",
    "settle_heap",
    "with_service",
]

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_CONFIG = 2
EXIT_RETRYABLE = 75  # EX_TEMPFAIL: try again later
EXIT_FATAL = 1


def print_json(value: JSONValue) -> None:
    """Print JSON for scripts (stable key order, indented)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")


def fail(error: SynthralError, *, as_json: bool) -> NoReturn:
    """Report ``error`` and exit with a status saying what kind of failure it was."""
    if as_json:
        print_json(
            {
                "error": {
                    "type": error.error_type,
                    "code": error.code,
                    "message": error.message,
                    "retryable": error.retryable,
                    "details": error.details,
                }
            }
        )
    else:
        err_console.print(f"[bold red]error[/]: {error.message}", markup=True, soft_wrap=True)
        trace = error.details.get("traceback")
        if isinstance(trace, str):  # a plugin's unexpected exception: where it happened
            err_console.print(trace.rstrip(), markup=False, highlight=False, soft_wrap=True)
    if isinstance(error, ConfigurationError):
        raise typer.Exit(EXIT_CONFIG)
    raise typer.Exit(EXIT_RETRYABLE if isinstance(error, RetryableError) or error.retryable else EXIT_FATAL)


def run(coro: Coroutine[object, object, T], *, as_json: bool = False) -> T:
    """Run a coroutine, turning SynthralOS errors into a message and an exit status.

    A database that is down, full or read-only is said in one line, exit status 75 (try
    again later), never as a traceback: the operation wrote nothing.
    """
    try:
        return run_loop(coro)
    except SynthralError as exc:
        fail(exc, as_json=as_json)
    except Cancelled as exc:
        err_console.print(f"cancelled: {exc.message}")
        raise typer.Exit(130) from None
    except Exception as exc:
        # Imported here: SQLAlchemy takes a second to import, and most commands never need it.
        from synthral.store.db import database_file, database_location, database_url
        from synthral.store.outage import unavailable

        try:
            url = database_url(Settings.load())
        except SynthralError:
            url = None
        where = database_location(url) if url else "the database"
        trouble = unavailable(exc, where, path=database_file(url) if url else None)
        if trouble is None:
            raise
        fail(trouble, as_json=as_json)


def with_service(action: Callable[[PluginService], Awaitable[T]]) -> Coroutine[object, object, T]:
    """Open a plugin host for the duration of ``action`` and close it (stopping plugin processes)."""

    async def go() -> T:
        settings = Settings.load()
        host = PluginHost(settings, egress=EgressSettings.from_settings(settings.security, local=True))  # this user
        try:
            return await action(PluginService(host))
        finally:
            await host.close()

    return go()
