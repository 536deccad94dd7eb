"""A throwaway MariaDB server from the Debian binaries, for the whole session.

Its own datadir, socket and port in a temp folder; an ``app`` user with a password and a
``shop`` database, reached over TCP as a workflow would. With ``openssl`` on the PATH the server
also offers TLS, with a certificate for the name ``localhost`` only, signed by a throwaway CA.
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
from pathlib import Path

import pymysql
import pytest

from synthral_sdk.testing_tls import make_tls_files


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
        )
        if found:
            return found
    return None


def _server_user() -> str | None:
    """Whom the server runs as: root must name a user; 'mysql' when it exists, else root itself.

    mariadb-server-core and mariadb-client-core (all the tests need) make no 'mysql' user; mariadbd runs as root
    only when told so with --user=root.
    """
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("mysql")
    except KeyError:
        return "root"
    return "mysql"


@pytest.fixture(scope="session")
def dsn(mariadb: tuple[str, str | None]) -> str:
    """``mysql://app:s3cret@127.0.0.1:PORT/shop``."""
    return mariadb[0]


@pytest.fixture(scope="session")
def tls_ca(mariadb: tuple[str, str | None]) -> str:
    """The CA file of the server's TLS certificate (which names ``localhost`` only)."""
    if mariadb[1] is None:
        pytest.skip("the test server offers no TLS: openssl is not installed; apt-get install openssl")
    return mariadb[1]


@pytest.fixture(scope="session")
def mariadb() -> Iterator[tuple[str, str | None]]:
    """The server's DSN, and its TLS CA file when it offers TLS."""
    server = _binary("mariadbd", "mysqld")
    install = _binary("mariadb-install-db", "mysql_install_db")
    if server is None or install is None or shutil.which("my_print_defaults") is None:
        pytest.skip(
            "no MariaDB/MySQL server binaries (mariadbd, mariadb-install-db, my_print_defaults); "
            "apt-get install mariadb-server-core mariadb-client-core"
        )
    root = Path(tempfile.mkdtemp(prefix="connector-mysql-"))
    user = _server_user()
    files = make_tls_files(root, "localhost")  # not 127.0.0.1: reached by its address, TLS must refuse it
    tls = [] if files is None else [f"--ssl-ca={files.ca}", f"--ssl-cert={files.cert}", f"--ssl-key={files.key}"]
    if user not in (None, "root"):
        for path in (root, *root.iterdir()):
            shutil.chown(path, user=user)
    data, sock = root / "data", root / "mysqld.sock"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    as_user = [f"--user={user}"] if user else []
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_user,
        ],
        check=True,
        capture_output=True,
        cwd="/",
    )
    args = [
        server,
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={sock}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--pid-file={root / 'mysqld.pid'}",
        f"--log-error={root / 'error.log'}",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=32M",
        "--innodb-flush-log-at-trx-commit=0",
        *tls,
        *as_user,
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    try:
        admin = None
        for _ in range(300):
            if process.poll() is not None:
                log = (root / "error.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"mariadbd exited with {process.returncode}: {log}")
            if not sock.exists():  # PyMySQL leaks the socket of a failed Unix-socket connect
                time.sleep(0.1)
                continue
            try:
                admin = pymysql.connect(unix_socket=str(sock), user="root", password="", autocommit=True)
                break
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        if admin is None:
            pytest.fail("mariadbd did not accept connections within 30 s")
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE shop CHARACTER SET utf8mb4")
            cur.execute("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 's3cret'")
            cur.execute("GRANT ALL ON shop.* TO 'app'@'127.0.0.1'")
        admin.close()
        yield f"mysql://app:s3cret@127.0.0.1:{port}/shop", None if files is None else str(files.ca)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
