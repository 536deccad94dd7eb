"""What every command shares: running async services, printing, and mapping errors to exit codes."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import NoReturn, TypeVar

import orjson
import typer
from rich.console import Console

from synthral.config import Settings
from synthral.errors import Cancelled, ConfigurationError, RetryableError, SynthralError
from synthral.plugins.host import PluginHost
from synthral.security.egress import EgressSettings
from synthral.services.plugins import PluginService
from synthral_sdk.types import JSONValue

__all__ = ["console", "err_console", "fail", "print_json", "run", "settle_heap", "with_service"]

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


def settle_heap() -> None:
    """Exempt what a long-running process built at start-up from the cyclic garbage collector.

    A server or worker imports and builds a few hundred thousand objects (FastAPI, SQLAlchemy,
    LangGraph, pydantic schemas) that live as long as the process. Left in the collector's
    oldest generation, each full collection walks all of them: ~300 ms during which no request
    is answered. Frozen, a full collection walks only what was allocated since.
    """
    gc.collect()
    gc.freeze()


def run_loop(coro: Coroutine[object, object, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (the plugin RPC's round trip is ~3x faster)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


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


def configure_logging(verbose: bool) -> None:
    """Plugin and host logs to stderr; quiet unless ``--verbose``."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from synthral.security.redact import install_log_redaction

    install_log_redaction()
