"""Fixtures: real local HTTP(S) servers and a blob store."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import RouteServer, Server, serve

from synthral_sdk import BlobStore


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The main test server on 127.0.0.1."""
    yield from serve(RouteServer())


@pytest.fixture(scope="session")
def other_server() -> Iterator[Server]:
    """A second server: another origin, to see what reaches it through redirects."""
    yield from serve(RouteServer())


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An HTTPS server with a self-signed certificate made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate; install openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = RouteServer()
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    yield from serve(httpd)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    """A fresh blob store."""
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
