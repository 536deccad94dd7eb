"""synthral plugin upgrade --check / --apply and plugin rollback, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.slow

TOKEN = "tok-cli-upgrade-s3cret"


def synthral(home: Path, wheelhouse: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SYNTHRAL_HOME": str(home),
        "SYNTHRAL_WHEELHOUSE": str(wheelhouse),
        "SYNTHRAL_SECRET_TOKEN": TOKEN,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "synthral", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.mark.timeout(900)  # a dozen CLI processes, each starting the host and plugins
def test_check_apply_and_rollback_from_the_command_line(
    tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    installed = synthral(home, wheelhouse, "plugin", "install", str(fixture_wheels["upgrady"]), "--grant", "all")
    assert installed.returncode == 0, installed.stderr
    flow = tmp_path / "greeter.yaml"
    flow.write_text(
        "name: greeter\nnodes:\n"
        "  - {id: greet, type: upgrady/greet, input: {name: '{{ trigger.name }}'}}\n"
        "  - {id: secret, type: upgrady/secret, secrets: [token]}\n"
        "edges:\n  - {source: greet, target: secret}\n"
    )
    ran = synthral(home, wheelhouse, "run", str(flow), "--input", '{"name": "Ada"}', "--json")
    assert ran.returncode == 0, ran.stderr
    v2 = str(fixture_wheels["upgrady-2"])

    neither = synthral(home, wheelhouse, "plugin", "upgrade", "upgrady", "--to", "2.0.0")
    assert neither.returncode == 2 and "--check (report only) or --apply" in neither.stderr
    unknown = synthral(home, wheelhouse, "plugin", "upgrade", "nosuch", "--to", "2.0.0", "--check")
    assert unknown.returncode == 2 and "no plugin nosuch is installed" in unknown.stderr

    checked = synthral(home, wheelhouse, "plugin", "upgrade", "upgrady", "--to", "2.0.0", "--from", v2, "--check")
    assert checked.returncode == 0, checked.stderr
    assert "upgrady → 2.0.0" in checked.stdout
    assert "│ greet " in checked.stdout and 'replace /greeting "Hello, Ada!"' in checked.stdout
    assert "not clean" in checked.stdout and TOKEN not in checked.stdout
    report = orjson.loads(
        synthral(home, wheelhouse, "plugin", "upgrade", "upgrady", "--to", "2.0.0", "--check", "--json").stdout
    )
    assert report["counts"] == {"identical": 1, "changed": 1, "failing": 0, "incompatible": 0}

    refused = synthral(home, wheelhouse, "plugin", "upgrade", "upgrady", "--to", "2.0.0", "--apply")
    assert refused.returncode == 2 and "not clean: 1 changed" in refused.stderr and "--accept-changes" in refused.stderr
    not_using = synthral(
        home, wheelhouse, "plugin", "upgrade", "upgrady", "--to", "2.0.0", "--apply", "--workflow", "nope"
    )
    assert not_using.returncode == 2 and "no workflow 'nope'" in not_using.stderr
    applied = synthral(
        home, wheelhouse, "plugin", "upgrade", "upgrady", "--to", "2.0.0", "--apply", "--accept-changes", "--json"
    )
    assert applied.returncode == 0, applied.stderr
    [repinned] = orjson.loads(applied.stdout)["workflows"]
    assert (repinned["workflow"], repinned["from_version"], repinned["to_version"]) == ("greeter", "1.0.0", "2.0.0")
    again = orjson.loads(synthral(home, wheelhouse, "run", str(flow), "--input", '{"name": "Bo"}', "--json").stdout)
    assert again["execution"]["output"]["secret"] == {"seen": "[REDACTED]"}
    assert next(s for s in again["steps"] if s["node_id"] == "greet")["output"] == {"greeting": "Hello, Bo!"}

    back = synthral(home, wheelhouse, "plugin", "rollback", "upgrady")
    assert back.returncode == 0, back.stderr
    assert "re-pinned 'greeter': upgrady 2.0.0 → 1.0.0" in back.stdout
    nothing = synthral(home, wheelhouse, "plugin", "rollback", "upgrady")
    assert nothing.returncode == 2 and "no upgrade of plugin upgrady is in force" in nothing.stderr
