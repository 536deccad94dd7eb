"""Throwaway TLS certificates for tests: a CA of their own and a server certificate it signs (1.11).

A connector that speaks TLS to a database, a cache or a mail server is tested against a real
server on loopback, and its client should check that server's certificate exactly as it
would in production: against a CA it was told to trust, for the host name it connected to.
:func:`make_tls_files` makes what such a server presents, with the ``openssl`` command::

    files = make_tls_files(tmp_path, "localhost")
    if files is None:
        pytest.skip("openssl is not installed, so there is no certificate; apt-get install openssl")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert, files.key)
    client = ssl.create_default_context(cafile=files.ca)

The certificates carry the extensions strict verifiers demand (OpenSSL's X.509 strict mode,
the default of Python 3.13's ``ssl.create_default_context``), so a failed check in a test
means the name or the trust was wrong, never the certificate's shape. Certificates are
made by the ``openssl`` command, not a Python library, so plugin test environments need
nothing more than the standard library and the system's ``openssl``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["TLSFiles", "make_tls_files"]

_DAYS = 2  # long enough for any test session, short enough to be useless if it leaks
_HOST = re.compile(r"[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_NEW_KEY = {
    "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    "rsa": ["-newkey", "rsa:2048"],
}
# keyEncipherment only for RSA: TLS 1.2's RSA key exchange encrypts with the key; an EC key never does.
_SERVER_USAGE = {"ec": "digitalSignature", "rsa": "digitalSignature, keyEncipherment"}
_CONFIG = """\
[req]
distinguished_name = subject

[subject]

[ca_extensions]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_extensions]
subjectAltName = {names}
basicConstraints = critical, CA:FALSE
keyUsage = critical, {usage}
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


@dataclass(frozen=True)
class TLSFiles:
    """The PEM files :func:`make_tls_files` made: a throwaway CA and a server certificate it signs.

    Attributes:
        ca: The CA's certificate, what a client trusts (``cafile``, ``SSL_CERT_FILE``, a driver's
            ``ssl_ca``).
        cert: The server's certificate, signed by the CA, naming the hosts it was made for.
        key: The server certificate's private key, unencrypted.
    """

    ca: Path
    cert: Path
    key: Path


def make_tls_files(
    folder: str | os.PathLike[str], *hosts: str, key_type: Literal["ec", "rsa"] = "ec"
) -> TLSFiles | None:
    """Make a CA and a server certificate for ``hosts`` in ``folder``, valid for two days.

    The CA certificate is self-signed and may sign certificates only (basicConstraints
    ``CA:TRUE`` and keyUsage ``keyCertSign, cRLSign``, both critical). The server certificate
    names each host in its subjectAltName (a DNS name, or an IP address when the host parses
    as one; the first host is also its common name), may not sign others (``CA:FALSE``), and
    is for TLS servers only (extendedKeyUsage ``serverAuth``). Both carry key identifiers,
    which strict verifiers require. A client checking a name or an address not listed fails,
    so a test can show its client checks the name: make the certificate for ``"localhost"``
    alone and connect to ``127.0.0.1``.

    The files are ``ca.pem``, ``server.pem`` and ``server.key`` in ``folder`` (made if
    missing, overwritten if there). The key is readable by every user, as servers that drop
    their privileges (Dovecot, mariadbd as ``mysql``) read it as their own user; it is a
    throwaway key in a test's folder. The CA's key is deleted: nothing else can be signed.

    Args:
        folder: Where the files go.
        *hosts: The host names and IP addresses the server certificate is for, e.g.
            ``"localhost"`` and ``"127.0.0.1"``.
        key_type: ``"ec"`` (P-256, quick to make) or ``"rsa"`` (2,048 bits), for both
            certificates.

    Returns:
        The files' paths, or ``None`` when no ``openssl`` command is on the ``PATH``: a test
        suite then skips its TLS tests, naming the fix (``apt-get install openssl``).

    Raises:
        ValueError: No host was given, or a host is neither an IP address nor a DNS name.
        RuntimeError: ``openssl`` failed; the message holds what it printed.
    """
    if not hosts:
        raise ValueError("make_tls_files needs the host names or IP addresses to certify, e.g. 'localhost'")
    names = [_alt_name(host) for host in hosts]
    if key_type not in _NEW_KEY:
        raise ValueError(f"key_type {key_type!r} is not one of 'ec' or 'rsa'")
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    where = Path(folder)
    where.mkdir(parents=True, exist_ok=True)
    config = where / "tls.cnf"
    config.write_text(_CONFIG.format(names=", ".join(names), usage=_SERVER_USAGE[key_type]))
    new_key = [*_NEW_KEY[key_type], "-nodes", "-config", config.name]
    days = ["-days", str(_DAYS)]
    ca = ["-extensions", "ca_extensions", "-subj", "/CN=SynthralOS test CA"]
    # A random serial: clients that remember certificates by issuer and serial never mix up two runs.
    signed = ["-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", str(secrets.randbits(63) + 1)]
    server = ["-extfile", config.name, "-extensions", "server_extensions"]
    for command in (
        ["req", "-x509", *new_key, *days, *ca, "-keyout", "ca.key", "-out", "ca.pem"],
        ["req", "-new", *new_key, "-subj", f"/CN={hosts[0]}", "-keyout", "server.key", "-out", "server.csr"],
        ["x509", "-req", "-in", "server.csr", *days, *signed, *server, "-out", "server.pem"],
    ):
        done = subprocess.run([openssl, *command], cwd=where, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"openssl {command[0]} failed making test certificates in {where}: {done.stderr.strip()}"
            )
    for leftover in ("ca.key", "server.csr", config.name):
        (where / leftover).unlink()
    key = where / "server.key"
    key.chmod(0o644)
    return TLSFiles(ca=where / "ca.pem", cert=where / "server.pem", key=key)


def _alt_name(host: str) -> str:
    """``host`` as a subjectAltName entry: ``IP:`` when it is an address, else ``DNS:``."""
    try:
        return f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        pass
    if _HOST.fullmatch(host) is None:
        raise ValueError(
            f"host {host!r} is neither an IP address nor a DNS name (letters, digits, '-', '.' and a "
            "leading '*'); give an address without brackets or port, e.g. '::1', or a name such as 'localhost'"
        )
    return f"DNS:{host}"
