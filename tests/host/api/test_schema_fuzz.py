"""Property-based requests from the OpenAPI schema, once per role: no 5xx, answers match the schema.

The server runs as a real ``synthral serve`` process on SQLite; schemathesis drives it over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import PASSWORD

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ROLES = {"owner": "acme", "editor": "acme", "viewer": "acme", "outsider": "globex"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("fuzz-home")
    env = {
        **os.environ,
        "SYNTHRAL_HOME": str(home),
        "SYNTHRAL_WHEELHOUSE": str(wheelhouse),
        "FUZZ_PASSWORD": PASSWORD,
        **{f"SYNTHRAL_LIMIT_{name}": "1000000" for name in ("IP_RATE", "IP_BURST", "USER_RATE", "USER_BURST")},
        **{f"SYNTHRAL_LIMIT_{name}": "1000000" for name in ("LOGIN_RATE", "LOGIN_BURST")},
    }
    for role, workspace in ROLES.items():
        command = [sys.executable, "-m", "synthral", "user", "create", f"{role}@example.com",
                   "--workspace", workspace, "--password-env", "FUZZ_PASSWORD"]  # fmt: skip
        if role in ("editor", "viewer"):
            command += ["--role", role]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "synthral", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"the server did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.2)
        tokens = {}
        for role in ROLES:
            login = httpx.post(f"{url}/auth/login", json={"email": f"{role}@example.com", "password": PASSWORD})
            tokens[role] = login.json()["access_token"]
        yield url, tokens
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_the_schema_holds_for_every_role(server: tuple[str, dict[str, str]], role: str, tmp_path: Path) -> None:
    url, tokens = server
    headers = [] if role == "anonymous" else ["-H", f"Authorization: Bearer {tokens[role]}", "-H", "X-Workspace: acme"]
    checks = "not_a_server_error,response_schema_conformance,status_code_conformance"
    options = ["--checks", checks, "--max-examples", "5", "--seed", "7", "--phases", "examples,fuzzing"]
    options += ["--workers", "1", "--generation-database", "none", "--no-color", "--exclude-path-regex", "/ws$"]
    options += ["--suppress-health-check", "all", "--request-timeout", "30"]
    result = subprocess.run(
        [str(BIN / "schemathesis"), "run", f"{url}/openapi.json", *headers, *options],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
