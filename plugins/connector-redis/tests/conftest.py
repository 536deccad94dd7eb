"""Throwaway redis-servers (Debian's) with a password, for the whole session.

``url``: plain TCP. ``tls``: TLS only, with a certificate for the name ``localhost`` (not
127.0.0.1) signed by a throwaway CA; skipped without ``openssl`` or a redis-server built with TLS.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from synthral_sdk.testing_tls import make_tls_files


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(args: list[str], port: int, folder: str) -> subprocess.Popen[bytes]:
    """Start redis-server with ``args`` and wait until ``port`` accepts connections."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; apt-get install redis-server")
    base = ["--bind", "127.0.0.1", "--requirepass", "s3cret", "--save", "", "--appendonly", "no", "--dir", folder]
    process = subprocess.Popen([binary, *base, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None:
            break
        time.sleep(0.05)
    return process


def _stop(process: subprocess.Popen[bytes], folder: str) -> None:
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def url() -> Iterator[str]:
    port, folder = _free_port(), tempfile.mkdtemp(prefix="connector-redis-")
    process = _serve(["--port", str(port)], port, folder)
    try:
        yield f"redis://:s3cret@127.0.0.1:{port}/0"
    finally:
        _stop(process, folder)


@pytest.fixture(scope="session")
def tls() -> Iterator[tuple[str, str]]:
    """``rediss://:s3cret@localhost:PORT/0`` and the CA file its certificate is signed by."""
    port, folder = _free_port(), tempfile.mkdtemp(prefix="connector-redis-tls-")
    certs = make_tls_files(folder, "localhost")  # not 127.0.0.1: reached by its address, TLS must refuse it
    if certs is None:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip("openssl is not installed, so there is no certificate for a TLS server; apt-get install openssl")
    args = ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
    args += ["--tls-cert-file", str(certs.cert), "--tls-key-file", str(certs.key)]
    process = _serve([*args, "--tls-ca-cert-file", str(certs.ca)], port, folder)
    try:
        if process.poll() is not None:
            pytest.skip("this redis-server does not serve TLS (built without it)")
        yield f"rediss://:s3cret@localhost:{port}/0", str(certs.ca)
    finally:
        _stop(process, folder)
