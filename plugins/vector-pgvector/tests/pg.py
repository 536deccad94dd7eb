"""A throwaway PostgreSQL 16 with pgvector (the pgserver package's build), started once per test run.

It listens on 127.0.0.1, as a remote server would: the plugin reaches its database over TCP
through the network policy, never by a Unix socket. pgserver's own ``get_server`` listens on
a socket only, so its binaries are started here as it would start them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pgserver
from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

_BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"


@functools.cache
def server() -> tuple[str, int]:
    """The server's ``(socket folder, port)``."""
    folder = Path(tempfile.mkdtemp(prefix="pgvector-tests-"))
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root; pgserver runs it as this user
        user = "pgserver"
        ensure_user_exists(user)
        shutil.chown(folder, user=user)
        # As pgserver.get_server prepares them: the user must reach its binaries and libraries.
        ensure_prefix_permissions(_BIN)
        ensure_folder_permissions(_BIN, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(_BIN.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    data = folder / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    pgserver.initdb(["--auth=trust", "--encoding=utf8", "--no-sync", "-U", "postgres"], pgdata=data, user=user)
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
    pgserver.pg_ctl(
        ["-w", "-t", "60", "-o", options, "-l", str(folder / "log"), "start"], pgdata=data, user=user, timeout=90
    )
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    atexit.register(_stop, data, user)
    return str(folder), port


def _stop(data: Path, user: str | None) -> None:
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data, user=user, timeout=60)


def dsn(host: str = "127.0.0.1") -> str:
    """The test server's URL over TCP (no password), by ``host``."""
    return f"postgresql://postgres@{host}:{server()[1]}/postgres"


def socket_dsn() -> str:
    """The same server by its Unix socket, which the plugin refuses (plugins cannot reach one)."""
    folder, port = server()
    return f"postgresql://postgres@/postgres?host={folder}&port={port}"
