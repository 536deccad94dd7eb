"""The local host killed: it restarts, the window reconnects, runs resume, watched folders fire once per file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from synthral_desktop.app import DesktopApp
from synthral_desktop.client import ApiClient
from tests.conftest import save_workflow, wait_for, wait_status

SLOW = {
    "name": "slow",
    "nodes": [
        {"id": "pause", "type": "core/wait", "config": {"seconds": 6}},
        {"id": "done", "type": "core/set", "config": {"values": {"finished": True}}},
    ],
    "edges": [{"source": "pause", "target": "done"}],
}
FILES = {
    "name": "inbox",
    "nodes": [{"id": "pick", "type": "core/transform", "config": {"mapping": {"name": "name"}}}],
}


def runs_of(client: ApiClient, workflow: str) -> list[dict[str, object]]:
    return client.items(f"/workflows/{workflow}/executions")


def test_a_killed_host_restarts_the_window_reconnects_and_work_resumes_without_repeats(
    desktop: DesktopApp, client: ApiClient, tmp_path: Path
) -> None:
    save_workflow(client, SLOW)
    save_workflow(client, FILES)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    client.call("POST", "/desktop/watched-folders", json={"workflow": "inbox", "path": str(inbox)})
    (inbox / "a.txt").write_text("first")
    wait_for(lambda: len(runs_of(client, "inbox")) == 1, what="the watched folder's first run")

    running = client.call("POST", "/workflows/slow/run", json={})["execution_id"]
    wait_for(lambda: client.call("GET", f"/executions/{running}")["execution"]["status"] in ("running", "waiting"))
    before = desktop.supervisor.endpoint
    assert before is not None
    reconnected: list[object] = []
    desktop.connected.connect(reconnected.append)
    os.kill(before.pid, signal.SIGKILL)
    wait_for(lambda: desktop.supervisor.endpoint is None, what="the loss to be seen")
    (inbox / "b.txt").write_text("arrived while the host was down")
    wait_for(lambda: reconnected, timeout=240, what="the restarted host")
    after = desktop.supervisor.endpoint
    assert after is not None
    assert after.pid != before.pid
    assert desktop.supervisor.restarts >= 1
    assert desktop.window is not None
    wait_for(lambda: desktop.window.view.url().port() == after.port, what="the window on the new host")  # type: ignore[union-attr]

    new_client = desktop.client
    assert new_client is not None
    done = wait_status(new_client, running, "completed", timeout=180)
    assert done["output"]["done"]["data"]["finished"] is True
    wait_for(lambda: len(runs_of(new_client, "inbox")) == 2, what="the file that arrived meanwhile")
    (inbox / "c.txt").write_text("after the restart")
    wait_for(lambda: len(runs_of(new_client, "inbox")) == 3, what="a new file after the restart")
    inputs = sorted(
        new_client.call("GET", f"/executions/{run['id']}")["execution"]["input"]["name"]
        for run in runs_of(new_client, "inbox")
    )
    assert inputs == ["a.txt", "b.txt", "c.txt"]  # each file once: a.txt did not fire again after the restart


def test_the_host_process_told_to_stop_exits_cleanly(tmp_path: Path) -> None:
    # A session ending sends SIGTERM to the host before the app closes its pipe: it stops its
    # parts and exits 0 (it used to abort at exit, its stdin reader holding a lock).
    environment = {**os.environ, "SYNTHRAL_HOME": str(tmp_path / "home")}
    host = subprocess.Popen(
        [sys.executable, "-m", "synthral_desktop.hostproc"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    assert host.stdout is not None
    listening = json.loads(host.stdout.readline())
    assert listening["pid"] == host.pid
    host.send_signal(signal.SIGTERM)
    host.wait(timeout=60)  # its standard input still open, as the app's is
    assert host.stderr is not None
    assert host.stdin is not None
    errors = host.stderr.read()
    host.stdin.close()
    host.stdout.close()
    host.stderr.close()
    assert host.returncode == 0, errors.decode()
    assert b"Fatal Python error" not in errors
