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
from pathlib import Path

import pytest


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
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for a TLS server")
    port, folder = _free_port(), tempfile.mkdtemp(prefix="connector-redis-tls-")
    certs = Path(folder)
    (certs / "server.ext").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    for command in (
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=connector-redis-test-CA "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost",
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext",
    ):
        subprocess.run([openssl, *command.split()], check=True, capture_output=True, cwd=folder)
    args = ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
    args += ["--tls-cert-file", str(certs / "server.pem"), "--tls-key-file", str(certs / "server.key")]
    process = _serve([*args, "--tls-ca-cert-file", str(certs / "ca.pem")], port, folder)
    try:
        if process.poll() is not None:
            pytest.skip("this redis-server does not serve TLS (built without it)")
        yield f"rediss://:s3cret@localhost:{port}/0", str(certs / "ca.pem")
    finally:
        _stop(process, folder)
