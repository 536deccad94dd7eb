"""A throwaway Dovecot IMAP server (Debian's dovecot-imapd) for the whole session, and TLS files.

Its own config, base dir, Maildir and passwd-file user in a temp folder, in the foreground on
a free port, plain-text login on loopback. With ``openssl`` at hand the session also makes a
throwaway CA and a certificate for the name ``localhost`` it signs; Dovecot then offers
STARTTLS on its IMAP port and implicit TLS on a second one, with that certificate.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from synthral_sdk.testing_tls import TLSFiles, make_tls_files

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_plugins =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles | None:
    """Throwaway TLS files, or None without openssl (the TLS tests are then skipped)."""
    return make_tls_files(tmp_path_factory.mktemp("tls"), "localhost")


@dataclass(frozen=True)
class Dovecot:
    """The running server: the credential's IMAP fields, and its implicit-TLS port (0 without TLS)."""

    secrets: dict[str, str]
    imaps_port: int


@pytest.fixture(scope="session")
def imap_server(dovecot: Dovecot) -> dict[str, str]:
    """The credential's fields for the Dovecot's plain IMAP port."""
    return dovecot.secrets


@pytest.fixture(scope="session")
def imaps_port(dovecot: Dovecot, tls_files: TLSFiles | None) -> int:
    """The Dovecot's implicit-TLS port (its IMAP port offers STARTTLS), or a skip without TLS files."""
    if tls_files is None:
        pytest.skip("openssl is not installed, so the test has no certificate; apt-get install openssl")
    return dovecot.imaps_port


@pytest.fixture(scope="session")
def dovecot(tls_files: TLSFiles | None) -> Iterator[Dovecot]:
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None or not Path("/usr/lib/dovecot/imap").exists():
        pytest.skip("Dovecot's IMAP server is not installed; apt-get install dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="connector-imap-"))
    if os.geteuid() == 0:  # mail may not be owned by root: a system user holds it
        owner = pwd.getpwnam("mail")
        user, group, login = "dovecot", "dovecot", "dovenull"
    else:
        owner = pwd.getpwuid(os.getuid())
        user = login = owner.pw_name
        group = owner.pw_name
    port, imaps_port = _free_port(), _free_port()
    tls_config = "ssl = no"
    if tls_files is not None:
        tls_config = f"ssl = yes\nssl_cert = <{tls_files.cert}\nssl_key = <{tls_files.key}"
    for sub in ("run", "state", "home"):
        (root / sub).mkdir()
    os.chmod(root, 0o755)
    shutil.chown(root / "home", user=owner.pw_uid, group=owner.pw_gid)
    (root / "passwd").write_text("ada:{PLAIN}s3cret::::::\n")
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            port=port,
            imaps_port=imaps_port if tls_files is not None else 0,
            ssl=tls_config,
            uid=owner.pw_uid,
            gid=owner.pw_gid,
            user=user,
            group=group,
            login=login,
        )
    )
    process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                log = (root / "dovecot.log").read_text(errors="replace") if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot exited with {process.returncode}: {err}{log[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        secrets = {
            "imap_host": "127.0.0.1",
            "imap_port": str(port),
            "imap_security": "none",
            "username": "ada",
            "password": "s3cret",
        }
        yield Dovecot(secrets=secrets, imaps_port=imaps_port if tls_files is not None else 0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def trusted(tls_files: TLSFiles | None, monkeypatch: pytest.MonkeyPatch) -> TLSFiles:
    """The test CA trusted by ssl.create_default_context() in this process (SSL_CERT_FILE), as a system CA is."""
    if tls_files is None:
        pytest.skip("openssl is not installed, so the test has no certificate; apt-get install openssl")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    return tls_files
