"""The CLI on a full disk or a read-only database: one clear line, exit 75, and nothing lost."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.disk import SmallDisk, small_disk

pytestmark = pytest.mark.slow

WORKFLOW = "name: hello\nnodes:\n  - {id: hi, type: core/set, config: {values: {greeting: hello}}}\n"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "small", "12M") as mounted:
        yield mounted


def synthral(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SYNTHRAL_", "WORKFLOW_"))}
    env["SYNTHRAL_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "synthral", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def refused_cleanly(done: subprocess.CompletedProcess[str], problem: str) -> None:
    assert done.returncode == 75, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "sqlalchemy" not in done.stderr.lower(), done.stderr
    if "--json" in done.args:  # scripts get the error as JSON on stdout
        error = orjson.loads(done.stdout)["error"]
        assert (error["code"], error["retryable"]) == ("database_unavailable", True)
        message = error["message"]
    else:
        message = done.stderr
    assert "is unavailable" in message and problem in message and "try again" in message, message


def listed(home: Path) -> list[str]:
    done = synthral(home, "executions", "list", "--json")
    assert done.returncode == 0, done.stderr
    return [row["id"] for row in orjson.loads(done.stdout)]


def test_a_full_disk_gives_a_clear_message_exit_75_and_loses_nothing(disk: SmallDisk, tmp_path: Path) -> None:
    home = disk.path / "home"
    workflow = tmp_path / "hello.yaml"
    workflow.write_text(WORKFLOW)
    first = synthral(home, "run", str(workflow), "--json")
    assert first.returncode == 0, first.stderr
    kept = orjson.loads(first.stdout)["execution"]["id"]

    disk.fill()
    refused_cleanly(synthral(home, "run", str(workflow)), "its disk is full")
    listing = synthral(home, "executions", "list", "--json")
    if listing.returncode != 0:  # reading may need room too (a WAL index): then it is refused the same way
        refused_cleanly(listing, "its disk is full")
    else:
        assert [row["id"] for row in orjson.loads(listing.stdout)] == [kept]

    disk.empty()
    assert listed(home) == [kept]  # nothing lost
    again = synthral(home, "run", str(workflow), "--json")
    assert again.returncode == 0, again.stderr
    assert set(listed(home)) == {kept, orjson.loads(again.stdout)["execution"]["id"]}
    with sqlite3.connect(home / "synthral.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_read_only_database_gives_a_clear_message_and_exit_75(disk: SmallDisk, tmp_path: Path) -> None:
    home = disk.path / "home"
    workflow = tmp_path / "hello.yaml"
    workflow.write_text(WORKFLOW)
    first = synthral(home, "run", str(workflow), "--json")
    assert first.returncode == 0, first.stderr
    kept = orjson.loads(first.stdout)["execution"]["id"]

    disk.read_only()
    refused_cleanly(synthral(home, "run", str(workflow)), "read-only")
    listing = synthral(home, "executions", "list")
    if listing.returncode != 0:
        refused_cleanly(listing, "read-only")
    disk.read_only(False)
    assert listed(home) == [kept]
