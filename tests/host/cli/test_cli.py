"""The synthral command line, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import orjson
import pytest

import synthral_sdk
from tests.support.settings import FIXTURES, REPO

pytestmark = pytest.mark.slow


def synthral(home: Path, wheelhouse: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNTHRAL_HOME": str(home), "SYNTHRAL_WHEELHOUSE": str(wheelhouse), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "synthral", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.mark.timeout(900)  # a dozen CLI processes, each starting the host (and sandboxed plugins)
def test_install_list_info_invoke_remove(tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> None:
    home = tmp_path / "home"
    refused = synthral(home, wheelhouse, "plugin", "install", str(fixture_wheels["noop"]))
    assert refused.returncode != 0 and "asks for permissions that were not granted" in refused.stderr
    assert "connect to any public host" in refused.stderr and "Nothing was installed" in refused.stderr
    installed = synthral(home, wheelhouse, "plugin", "install", str(fixture_wheels["noop"]), "--grant", "all")
    assert installed.returncode == 0, installed.stderr
    assert "installed noop 1.0.0" in installed.stdout
    assert "resolving dependencies" in installed.stderr  # the progress display

    listing = orjson.loads(synthral(home, wheelhouse, "plugin", "list", "--json").stdout)
    builtins = {("core", True), ("llm", True), ("agent", True)}
    assert {(p["name"], p["builtin"]) for p in listing} == {*builtins, ("noop", False)}

    info = orjson.loads(synthral(home, wheelhouse, "plugin", "info", "noop", "--json").stdout)
    assert info[0]["version"] == "1.0.0" and any(r.startswith("pydantic==") for r in info[0]["requirements"])
    assert info[0]["grant"] == {"network": "any", "secrets": "any"} and info[0]["sandbox"].startswith("plugins run")
    shown = synthral(home, wheelhouse, "plugin", "info", "noop").stdout
    assert "granted: connect to any public host" in shown and "provenance sha256" in shown

    catalog = orjson.loads(synthral(home, wheelhouse, "capabilities", "--json", "--plugin", "noop").stdout)
    assert {entry["ref"] for entry in catalog} >= {"noop/echo", "noop/sleep"}
    assert catalog[0]["operations"]["run"]["inputSchema"]

    echoed = synthral(home, wheelhouse, "invoke", "noop/echo", "--input", '{"value": [1, 2]}')
    assert echoed.returncode == 0 and orjson.loads(echoed.stdout)["value"] == [1, 2]

    core = synthral(home, wheelhouse, "invoke", "core/set", "-i", '{"data": {}}', "-c", '{"values": {"a": 1}}')
    assert orjson.loads(core.stdout) == {"data": {"a": 1}}

    disabled = synthral(home, wheelhouse, "plugin", "disable", "noop")
    assert disabled.returncode == 0
    refused = synthral(home, wheelhouse, "invoke", "noop/echo", "--json")
    assert refused.returncode == 2 and orjson.loads(refused.stdout)["error"]["code"] == "plugin_disabled"
    assert synthral(home, wheelhouse, "plugin", "enable", "noop==1.0.0").returncode == 0

    again = synthral(home, wheelhouse, "plugin", "install", str(fixture_wheels["noop"]))
    assert again.returncode == 2 and "installed already" in again.stderr and "--reinstall" in again.stderr

    flow = tmp_path / "echo.yaml"
    flow.write_text("name: echoing\nnodes:\n  - id: a\n    type: noop/echo\n")
    assert synthral(home, wheelhouse, "run", str(flow)).returncode == 0
    pinned = synthral(home, wheelhouse, "plugin", "remove", "noop==1.0.0")
    assert pinned.returncode == 2 and "'echoing' (version 1)" in pinned.stderr and "--force" in pinned.stderr
    assert (home / "plugins" / "noop" / "1.0.0").exists()
    # Long enough for the plugin to start even on a busy machine, far shorter than the sleep.
    slow = synthral(home, wheelhouse, "invoke", "noop/sleep", "--input", '{"seconds": 120}', "--timeout", "6")
    assert slow.returncode == 75, slow.stderr  # transient: try again (with more time)
    assert "pass a longer --timeout" in slow.stderr and "node" not in slow.stderr

    removed = synthral(home, wheelhouse, "plugin", "remove", "noop==1.0.0", "--force", "--json")
    assert orjson.loads(removed.stdout) == [{"name": "noop", "version": "1.0.0"}]
    assert not (home / "plugins" / "noop" / "1.0.0").exists()


def test_errors_are_explained_with_exit_codes(tmp_path: Path, wheelhouse: Path) -> None:
    home = tmp_path / "home"
    bad_json = synthral(home, wheelhouse, "invoke", "core/set", "--input", "{oops")
    assert bad_json.returncode == 2 and "--input is not valid JSON" in bad_json.stderr
    missing = synthral(home, wheelhouse, "invoke", "ghost/thing", "--json")
    assert missing.returncode == 2
    assert orjson.loads(missing.stdout)["error"]["type"] == "PluginNotFound"
    bad_config = synthral(home, wheelhouse, "invoke", "core/if", "-i", '{"data": 1}', "-c", '{"conditions": []}')
    assert bad_config.returncode == 2 and "config field 'conditions'" in bad_config.stderr
    bad_secret = synthral(home, wheelhouse, "invoke", "core/noop", "--secret", "novalue")
    assert bad_secret.returncode == 2 and "NAME=VALUE" in bad_secret.stderr
    not_wheel = synthral(home, wheelhouse, "plugin", "install", str(FIXTURES / "no-entry-point"))
    assert not_wheel.returncode == 2 and "synthral.plugins" in not_wheel.stderr


def test_blob_put_and_get(tmp_path: Path, wheelhouse: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "scan.png"
    source.write_bytes(b"\x89PNG fake")
    ref = orjson.loads(synthral(home, wheelhouse, "blob", "put", str(source)).stdout)
    assert ref["mediaType"] == "image/png" and ref["size"] == 9
    out = tmp_path / "copy.png"
    assert synthral(home, wheelhouse, "blob", "get", ref["$blob"], "-o", str(out)).returncode == 0
    assert out.read_bytes() == source.read_bytes()
    bad = synthral(home, wheelhouse, "blob", "get", "sha256:../../etc", "-o", str(out))
    assert bad.returncode == 2 and "not a blob digest" in bad.stderr
    assert "no workspace may use it yet" in synthral(home, wheelhouse, "blob", "put", str(source)).stderr


def _grants(home: Path) -> set[tuple[str, str]]:
    with closing(sqlite3.connect(home / "synthral.db")) as connection:
        rows = connection.execute(
            "SELECT workspace.slug, blob_grant.digest FROM blob_grant "
            "JOIN workspace ON workspace.id = blob_grant.workspace_id"
        )
        return {(slug, digest) for slug, digest in rows}


def test_blob_put_grants_the_named_workspace_or_else_the_desktops(
    tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("PW", "correct horse battery staple")
    for email, slug in (("ada@example.com", "acme"), ("local-owner@example.com", "local")):
        made = synthral(home, wheelhouse, "user", "create", email, "--workspace", slug, "--password-env", "PW")
        assert made.returncode == 0, made.stderr
    source = tmp_path / "invoice.pdf"
    source.write_bytes(b"%PDF-1.7 an invoice")
    named = synthral(home, wheelhouse, "blob", "put", str(source), "--workspace", "acme")
    assert named.returncode == 0, named.stderr
    digest = orjson.loads(named.stdout)["$blob"]
    assert _grants(home) == {("acme", digest)}
    other = tmp_path / "receipt.pdf"
    other.write_bytes(b"%PDF-1.7 a receipt")
    default = orjson.loads(synthral(home, wheelhouse, "blob", "put", str(other)).stdout)
    assert _grants(home) == {("acme", digest), ("local", default["$blob"])}
    unknown = synthral(home, wheelhouse, "blob", "put", str(source), "--workspace", "nope")
    assert unknown.returncode == 2 and "no workspace 'nope'" in unknown.stdout


def test_plugin_new_scaffolds_a_project_whose_tests_pass_and_that_installs(tmp_path: Path, wheelhouse: Path) -> None:
    home = tmp_path / "home"
    created = synthral(home, wheelhouse, "plugin", "new", "weather", "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    project = tmp_path / "weather"
    assert (project / "synthral_weather" / "nodes.py").is_file()
    assert "[permissions]" in (project / "synthral_weather" / "synthral-plugin.toml").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    major, minor = synthral_sdk.__version__.split(".")[:2]
    assert f'dependencies = ["synthral-sdk>={major}.{minor},<{int(major) + 1}"]' in pyproject
    assert "tool.uv.sources" not in pyproject and str(REPO) not in pyproject  # a third party's: by version only
    # The SDK is not on the index here: build its wheel as the README shows, and let uv find it.
    wheels = tmp_path / "wheels"
    built = subprocess.run(["uv", "build", "--wheel", "--quiet", "--out-dir", str(wheels), str(REPO / "sdk")],
                           capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "uv build --wheel --out-dir ~/synthral-wheels" in (project / "README.md").read_text()
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env["UV_FIND_LINKS"] = str(wheels)
    tests = subprocess.run(
        ["uv", "run", "--quiet", "pytest", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
    assert synthral(home, wheelhouse, "plugin", "install", str(project)).returncode == 0
    greeted = synthral(home, wheelhouse, "invoke", "weather/greet", "--input", '{"who": "Ada"}')
    assert orjson.loads(greeted.stdout) == {"text": "Hello, Ada!"}
    again = synthral(home, wheelhouse, "plugin", "new", "weather", "--dir", str(tmp_path))
    assert again.returncode == 2 and "exists already" in again.stderr


def test_plugin_new_first_party_takes_the_checkouts_sdk_by_a_relative_path(tmp_path: Path, wheelhouse: Path) -> None:
    made = synthral(tmp_path / "home", wheelhouse, "plugin", "new", "storm", "--dir", str(tmp_path), "--first-party")
    assert made.returncode == 0, made.stderr
    project = tmp_path / "storm"
    pyproject = (project / "pyproject.toml").read_text()
    source = pyproject.split('synthral-sdk = { path = "', 1)[1].split('"', 1)[0]
    assert not source.startswith("/") and (project / source).resolve() == (REPO / "sdk").resolve()


def test_run_a_workflow_file_and_inspect_its_execution(tmp_path: Path, wheelhouse: Path) -> None:
    home = tmp_path / "home"
    workflow = tmp_path / "greet.yaml"
    workflow.write_text(
        "name: greet\n"
        "nodes:\n"
        "  - {id: hello, type: core/set, input: {data: {greeting: 'hello {{ trigger.who }}'}}}\n"
        "  - {id: check, type: core/if, config: {conditions: [{path: greeting, op: starts_with, value: hello}]}}\n"
        "  - {id: done, type: core/noop}\n"
        "edges:\n"
        "  - {source: hello, target: check}\n"
        "  - {source: check, target: done, handle: 'true'}\n"
    )
    ran = synthral(home, wheelhouse, "run", str(workflow), "--input", '{"who": "Ada"}', "--json")
    assert ran.returncode == 0, ran.stderr
    result = orjson.loads(ran.stdout)
    assert result["execution"]["status"] == "completed"
    assert result["execution"]["output"] == {"done": {"data": {"greeting": "hello Ada"}}}
    assert [s["node_id"] for s in result["steps"]] == ["hello", "check", "done"]
    execution_id = result["execution"]["id"]

    listed = orjson.loads(synthral(home, wheelhouse, "executions", "list", "--json").stdout)
    assert [row["id"] for row in listed] == [execution_id]
    shown = synthral(home, wheelhouse, "executions", "show", execution_id)
    assert "completed" in shown.stdout and "hello" in shown.stdout
    replayed = orjson.loads(synthral(home, wheelhouse, "executions", "replay", execution_id, "--json").stdout)
    assert replayed["execution_id"] != execution_id
    cancel_done = synthral(home, wheelhouse, "executions", "cancel", execution_id)
    assert cancel_done.returncode == 2 and "completed already" in cancel_done.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nnodes:\n  - {id: a, type: core/nope}\n")
    refused = synthral(home, wheelhouse, "run", str(broken))
    assert refused.returncode == 2 and "core/nope" in refused.stderr


def test_a_plugins_unexpected_exception_is_shown_with_its_masked_traceback(tmp_path: Path, wheelhouse: Path) -> None:
    home = tmp_path / "home"
    assert synthral(home, wheelhouse, "plugin", "install", str(FIXTURES / "noop"), "--grant", "all").returncode == 0
    flow = tmp_path / "broken.yaml"
    flow.write_text(
        "name: breaks\nnodes:\n  - id: boom\n    type: noop/broken\n    secrets: [token]\n"
        "    retry: {max_attempts: 1}\n"
    )
    env_secret = {"SYNTHRAL_SECRET_TOKEN": "tok-0123456789-secret"}
    failed = subprocess.run(
        [sys.executable, "-m", "synthral", "run", str(flow), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "SYNTHRAL_HOME": str(home), "SYNTHRAL_WHEELHOUSE": str(wheelhouse), **env_secret},
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    result = orjson.loads(failed.stdout)
    [step] = result["steps"]
    trace = step["error_details"]["traceback"]
    assert trace.startswith("Traceback (most recent call last)") and "synthral_fixture_noop" in trace
    assert "in run" in trace and "ValueError: bad value; secret was ***" in trace  # masked in the plugin
    assert "tok-0123456789-secret" not in failed.stdout

    shown = synthral(home, wheelhouse, "executions", "show", result["execution"]["id"])
    assert shown.returncode == 0, shown.stderr
    assert "boom attempt 1: the plugin raised" in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout and "raise ValueError" in shown.stdout
    assert "tok-0123456789-secret" not in shown.stdout

    invoked = synthral(home, wheelhouse, "invoke", "noop/broken")
    assert invoked.returncode == 75 and "Traceback (most recent call last)" in invoked.stderr
