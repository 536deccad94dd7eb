"""Throwaway TLS files: a real handshake on loopback trusts them for the names they certify only."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import Literal

import pytest

from synthral_sdk.testing_tls import TLSFiles, make_tls_files


def _files(folder: Path, *hosts: str, key_type: Literal["ec", "rsa"] = "ec") -> TLSFiles:
    files = make_tls_files(folder, *hosts, key_type=key_type)
    if files is None:
        pytest.skip("openssl is not installed, so there are no certificates to check; apt-get install openssl")
    return files


def _handshake(files: TLSFiles, server_hostname: str, *, trust_ca: bool = True) -> bytes:
    """What a client checking ``server_hostname`` reads from a TLS server on 127.0.0.1 with ``files``."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert, files.key)
    client = ssl.create_default_context(cafile=files.ca if trust_ca else None)
    client.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default: the certificates must pass it too
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            conn.settimeout(10)
            try:
                with server.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello")
            except (ssl.SSLError, OSError):
                conn.close()  # the client refused the certificate; it raises the reason

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname(), timeout=10) as raw,
                client.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                return tls.recv(5)
        finally:
            thread.join(timeout=10)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_a_client_trusting_the_ca_accepts_the_certified_name_and_refuses_any_other(
    tmp_path: Path, key_type: Literal["ec", "rsa"]
) -> None:
    files = _files(tmp_path, "localhost", key_type=key_type)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.pem", "server.key", "server.pem"]
    assert (files.ca, files.cert, files.key) == (tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key")
    assert files.key.stat().st_mode & 0o777 == 0o644  # servers that drop privileges read it
    assert _handshake(files, "localhost") == b"hello"
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(files, "example.com")
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):  # not certified for its address
        _handshake(files, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        _handshake(files, "localhost", trust_ca=False)


def test_ip_addresses_are_certified_as_addresses(tmp_path: Path) -> None:
    files = _files(tmp_path, "localhost", "127.0.0.1", "::1")
    assert _handshake(files, "127.0.0.1") == b"hello"
    assert _handshake(files, "localhost") == b"hello"


def test_without_openssl_there_are_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert make_tls_files(tmp_path / "tls", "localhost") is None
    assert not (tmp_path / "tls").exists()


@pytest.mark.parametrize(("hosts", "problem"), [((), "needs the host names"), (("[::1]",), "'\\[::1\\]' is neither")])
def test_a_missing_or_malformed_host_is_refused_before_anything_is_made(
    tmp_path: Path, hosts: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        make_tls_files(tmp_path / "tls", *hosts)
    assert not (tmp_path / "tls").exists()
