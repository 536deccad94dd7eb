"""Promote to and pull from a real ``synthral serve`` started here, the API key kept in the keyring."""

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

from synthral_desktop.app import DesktopApp
from synthral_desktop.client import ApiClient, ApiError
from synthral_desktop.dialogs import PromoteDialog
from synthral_desktop.promote import PluginsMissing, Transfer, load_key, normalize_url, pinned, save_key
from tests.conftest import MemoryKeyring, save_workflow

REPORT = {
    "name": "report",
    "nodes": [{"id": "shape", "type": "core/transform", "config": {"mapping": {"total": "amount"}}}],
}
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def synthral(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNTHRAL_HOME": str(home), "PW": PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "synthral", *args], env=env, capture_output=True, text=True, timeout=300, check=True
    )


def api_key(base: str, email: str) -> str:
    with httpx.Client(base_url=f"{base}/api/v1", timeout=60, trust_env=False) as http:
        tokens = http.post("/auth/login", json={"email": email, "password": PASSWORD}).raise_for_status().json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Workspace": "team"}
        created = http.post("/auth/api-keys", json={"name": "desktop"}, headers=headers).raise_for_status().json()
        return str(created["key"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A team server (sign-in required) with an owner and an editor; its URL and both API keys."""
    home = tmp_path_factory.mktemp("server-home")
    synthral(home, "user", "create", "owner@example.com", "--workspace", "team", "--password-env", "PW")
    synthral(
        home, "user", "create", "editor@example.com", "--workspace", "team", "--role", "editor", "--password-env", "PW"
    )
    port = free_port()
    env = {**os.environ, "SYNTHRAL_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "synthral", "serve", "--port", str(port), "--no-scheduler", "--concurrency", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("synthral serve did not answer within 240 s")
        yield base, api_key(base, "owner@example.com"), api_key(base, "editor@example.com")
    finally:
        process.terminate()
        process.wait(30)


def test_promote_creates_the_workflow_on_the_server_and_pull_brings_one_back(
    desktop: DesktopApp, client: ApiClient, server: tuple[str, str, str]
) -> None:
    base, owner_key, _ = server
    save_workflow(client, REPORT)
    remote = ApiClient(base, {"Authorization": f"Bearer {owner_key}"})
    transfer = Transfer(client, remote)
    saved = transfer.promote("report")
    assert saved["name"] == "report"
    there = remote.call("GET", "/workflows/report")
    assert there["workflow"]["nodes"] == client.call("GET", "/workflows/report")["workflow"]["nodes"]
    assert there["plugin_versions"] == client.call("GET", "/workflows/report")["plugin_versions"]
    assert transfer.promote("report")["version"] == saved["version"]  # promoting again changes nothing

    save_workflow(remote, {**REPORT, "name": "from-the-team"})
    pulled = transfer.pull("from-the-team")
    assert client.call("GET", f"/workflows/{pulled['id']}")["name"] == "from-the-team"
    remote.close()


def test_missing_plugin_versions_are_named_before_anything_is_created(
    client: ApiClient, server: tuple[str, str, str]
) -> None:
    base, owner_key, editor_key = server
    remote = ApiClient(base, {"Authorization": f"Bearer {owner_key}"})
    assert Transfer.missing(remote, {"http": "9.9.9", "core": "0.0.0"}) == ["core==0.0.0", "http==9.9.9"]
    definition = {"name": "x", "nodes": [{"id": "a", "type": "http/request"}, {"id": "b", "type": "core/noop"}]}
    assert pinned(definition, {"http": "1.2.3"})["nodes"] == [
        {"id": "a", "type": "http/request", "version": "1.2.3"},
        {"id": "b", "type": "core/noop"},
    ]
    error = PluginsMissing(base, ["http==9.9.9"])
    assert "does not have http==9.9.9; install them there first" in str(error)
    # An editor's key may not install plugins on the server: the refusal says whom to ask.
    editor = Transfer(client, ApiClient(base, {"Authorization": f"Bearer {editor_key}"}))
    with pytest.raises(ApiError) as refused:
        editor.remote.call("POST", "/plugins", data={"spec": "http==9.9.9"})
    assert refused.value.status == 403
    editor.remote.close()
    remote.close()


def test_the_promote_dialog_keeps_the_key_in_the_keyring_only(
    desktop: DesktopApp, client: ApiClient, server: tuple[str, str, str], memory_keyring: MemoryKeyring
) -> None:
    base, owner_key, _ = server
    save_workflow(client, REPORT)
    dialog = desktop.open_promote()
    assert isinstance(dialog, PromoteDialog)
    dialog.workflow.setCurrentText("report")
    dialog.url.setText(base + "/some/path")
    dialog.key.setText(owner_key)
    saved = dialog.run("promote")
    assert saved is not None, dialog.outcome.text()
    assert "is on http://127.0.0.1" in dialog.outcome.text()
    assert load_key(base) == owner_key
    assert memory_keyring.store[("synthral-desktop", normalize_url(base))] == owner_key
    for folder in (desktop.home, Path(os.environ["XDG_CONFIG_HOME"])):
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                assert owner_key.encode() not in path.read_bytes(), f"the API key was written to {path}"
    dialog.close()


def test_a_wrong_key_or_url_is_refused_with_the_fix(
    desktop: DesktopApp, client: ApiClient, server: tuple[str, str, str]
) -> None:
    base, _, _ = server
    dialog = desktop.open_promote()
    assert isinstance(dialog, PromoteDialog)
    dialog.url.setText("ftp://nowhere")
    dialog.key.setText("k")
    assert dialog.run("promote") is None
    assert "is not a server URL; write it like https://" in dialog.outcome.text()
    dialog.url.setText(base)
    dialog.key.setText("sk_wrong")
    assert dialog.run("promote") is None
    assert dialog.outcome.text()
    with pytest.raises(ValueError, match="the API key is empty"):
        save_key(base, " ")
    dialog.close()
