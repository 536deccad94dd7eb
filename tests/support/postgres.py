"""A throwaway PostgreSQL server from the machine's binaries, in a temporary directory.

Used by the tests and the benchmarks. As root (CI), the server runs as the ``postgres``
system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin that has initdb."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server; ``url`` is a SQLAlchemy asyncpg URL to its ``synthral`` database."""

    root: Path
    port: int
    bin_dir: Path
    as_user: str | None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://synthral@127.0.0.1:{self.port}/synthral"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd="/")

    @classmethod
    def start(cls) -> PostgresServer:
        """initdb, start on a free port, create role and database ``synthral``."""
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql; apt-get install postgresql")
        root = Path(tempfile.mkdtemp(prefix="synthral-pg-"))
        as_user = "postgres" if os.geteuid() == 0 else None
        if as_user:
            shutil.chown(root, user=as_user)
        server = cls(root=root, port=_free_port(), bin_dir=bin_dir, as_user=as_user)
        data = root / "data"
        server._run(
            str(bin_dir / "initdb"), "-D", str(data), "-U", "synthral", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        options = (
            f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=64MB"
        )
        server._run(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start"
        )
        for _ in range(100):
            if (
                server._run(
                    str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port), check=False
                ).returncode
                == 0
            ):
                break
            time.sleep(0.1)
        server._run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "synthral", "synthral")
        return server

    def restart(self) -> None:
        """Stop the server immediately and start it again (a database restart)."""
        self.halt()
        self.resume()

    def halt(self) -> None:
        """Stop the server at once, as a crash or an immediate shutdown does: clients are cut off."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")

    def resume(self) -> None:
        """Start the server again after :meth:`halt`, on the same port and data."""
        data = str(self.root / "data")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", data, "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def create_database(self, name: str) -> str:
        """A fresh database on this server; returns its URL."""
        self._run(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "synthral", name)
        return f"postgresql+asyncpg://synthral@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop and delete everything."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
