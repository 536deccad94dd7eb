"""A throwaway MongoDB wire-protocol server for the whole session.

Neither Debian nor PyPI ships mongod (PyPI's helpers download it at run time), so the suite
runs against NX-27017, a server speaking MongoDB's wire protocol (OP_MSG: hello, find,
getMore, insert, update, delete, aggregate) over SQLite, installed from the plugin's
requirements.lock and reached through the real PyMongo driver. It has no authentication,
so a refused login is not exercised here.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def uri() -> Iterator[str]:
    binary = Path(sys.executable).parent / "nx-27017"
    if not binary.exists():
        pytest.skip("nx-27017 is not installed in this venv; run the suite with scripts/plugin-tests.sh")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="connector-mongodb-"))
    args = [
        str(binary),
        "--data-dir",
        str(folder / "data"),
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
        "--log-file",
        str(folder / "server.log"),
        "--pid-file",
        str(folder / "server.pid"),
    ]
    (folder / "data").mkdir()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    try:
        for _ in range(200):
            if process.poll() is not None:
                pytest.fail(f"nx-27017 exited with {process.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"mongodb://127.0.0.1:{port}/shop"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
