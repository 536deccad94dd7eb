"""What a long-running host process does around its start: logging, its event loop, its heap.

Kept apart from the CLI so that processes started by other programs (the desktop's local
host) import only what they run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Coroutine
from typing import TypeVar

__all__ = ["configure_logging", "run_loop", "settle_heap"]

T = TypeVar("T")


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
        import uvloop  # noqa: PLC0415 -- optional: absent on Windows
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def configure_logging(verbose: bool) -> None:
    """Plugin and host logs to stderr; quiet unless ``--verbose``."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from synthral.security.redact import install_log_redaction  # noqa: PLC0415 -- only once logging is set up

    install_log_redaction()
