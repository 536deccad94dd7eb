"""A throwaway PostgreSQL server from the Debian binaries, for the whole session."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*args: str, as_user: str | None) -> None:
    command = ["runuser", "-u", as_user, "--", *args] if as_user else list(args)
    subprocess.run(command, check=True, capture_output=True, text=True, cwd="/")


@pytest.fixture(scope="session")
def dsn() -> Iterator[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql; apt-get install postgresql")
    bin_dir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="connector-pg-"))
    as_user = "postgres" if os.geteuid() == 0 else None
    if as_user:
        shutil.chown(root, user=as_user)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"
    _run(
        str(bin_dir / "initdb"), "-D", str(data), "-U", "app", "-A", "trust", "--no-sync", "-E", "UTF8", as_user=as_user
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "-t",
        "60",
        "start",
        as_user=as_user,
    )
    try:
        _run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "app", "shop", as_user=as_user)
        yield f"postgresql://app@127.0.0.1:{port}/shop"
    finally:
        _run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop", as_user=as_user)
        shutil.rmtree(root, ignore_errors=True)
