"""``synthral connector``: import, docs, build and test, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthral_sdk.testing_rest import ApiKeyAuth, Reply, StandIn
from tests.host.cli.test_cli import synthral

pytestmark = pytest.mark.slow
SPECS = Path(__file__).parents[2] / "fixtures" / "openapi"


def test_import_docs_build_install_and_test_from_the_command_line(tmp_path: Path, wheelhouse: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "petstore"
    imported = synthral(home, wheelhouse, "connector", "import-openapi", str(SPECS / "petstore-expanded.yaml"),
                        "--out", str(folder), "--name", "petstore", "--json")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {"app": "PETSTORE", "functions": 4, "skipped": []}
    app = json.loads((folder / "app.json").read_text())
    app["security_schemes"] = {"api_key": {"location": "header", "name": "X-Api-Key"}}
    (folder / "app.json").write_text(json.dumps(app))
    docs = synthral(home, wheelhouse, "connector", "docs", str(folder))
    assert docs.returncode == 0 and "### `find_pets`" in docs.stdout
    built = synthral(home, wheelhouse, "connector", "build", str(folder), "--out", str(tmp_path / "dist"), "--json")
    assert built.returncode == 0, built.stderr
    wheel = json.loads(built.stdout)["wheel"]
    # The stand-in plays the API on this machine: the operator grants any host, not only the declared one.
    assert (
        synthral(home, wheelhouse, "plugin", "install", wheel, "--grant", "all", "--grant", "network=any").returncode
        == 0
    )
    api = StandIn(auth=ApiKeyAuth("k1", header="X-Api-Key"))
    api.route("GET", "/pets/{id}")(lambda request: Reply(200, {"id": int(request.params["id"]), "name": "Tom"}))
    with api:
        args = ["connector", "test", "petstore", "--action", "find_pet_by_id", "-i", '{"path": {"id": 7}}',
                "-c", json.dumps({"base_url": api.url}), "--json"]  # fmt: skip
        good = synthral(home, wheelhouse, *args, "--secret", "api_key=k1")
        bad = synthral(home, wheelhouse, *args, "--secret", "api_key=wrong")
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads(good.stdout)["output"]["data"] == {"id": 7, "name": "Tom"}
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"]["code"] == "non_retryable"
    assert "wrong" not in bad.stdout


def test_bad_input_is_named_and_nothing_is_written(tmp_path: Path, wheelhouse: Path) -> None:
    spec = tmp_path / "swagger.json"
    spec.write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    out = synthral(
        tmp_path / "home", wheelhouse, "connector", "import-openapi", str(spec), "--out", str(tmp_path / "c")
    )
    assert out.returncode != 0 and "Swagger 2.0" in out.stderr + out.stdout
    assert not (tmp_path / "c").exists()
    missing = synthral(tmp_path / "home", wheelhouse, "connector", "build", str(tmp_path))
    assert missing.returncode != 0 and "holds no connector definition" in missing.stderr + missing.stdout
