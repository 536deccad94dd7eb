"""A throwaway PostgreSQL 16 with pgvector (from the pgserver package), started once per test run."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from typing import Any

import pgserver


@functools.cache
def server() -> Any:
    folder = tempfile.mkdtemp(prefix="pgvector-tests-")
    started = pgserver.get_server(folder, cleanup_mode="stop")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    atexit.register(started.cleanup)
    return started


def dsn() -> str:
    """The test server's URI (a Unix socket, no password)."""
    return str(server().get_uri())
