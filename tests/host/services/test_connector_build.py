"""Building a declared connector into a wheel, installing it into its own venv and testing it there."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from synthral.errors import ConfigurationError, NotFound
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.security.egress import EgressSettings
from synthral.services.connector_build import build_connector, declared_permissions, definition_docs, write_project
from synthral.services.connector_openapi import import_openapi
from synthral.services.connector_testing import run_connector_test
from synthral.services.connectors import ConnectorCatalog
from synthral_sdk.permissions import parse_permissions
from synthral_sdk.rest import load_definition
from synthral_sdk.testing_rest import ApiKeyAuth, Recorded, Reply, StandIn

STAND_IN_GRANT = GrantRequest(items=["all", "network=any"])
"""What the connector declares, and any host: its calls go to a stand-in on a port chosen when it starts."""

SPECS = Path(__file__).parents[2] / "fixtures" / "openapi"


def _petstore(folder: Path) -> Path:
    import_openapi(SPECS / "petstore-expanded.yaml", folder, name="petstore")
    app = json.loads((folder / "app.json").read_text())
    app["security_schemes"] = {"api_key": {"location": "header", "name": "X-Api-Key"}}
    app["test"] = "PETSTORE__FIND_PETS"
    (folder / "app.json").write_text(json.dumps(app))
    functions = json.loads((folder / "functions.json").read_text())
    for function in functions:
        if function["name"] == "PETSTORE__ADD_PET":
            function["examples"] = [{"title": "a cat", "input": {"body": {"name": "Tom", "tag": "cat"}}}]
    (folder / "functions.json").write_text(json.dumps(functions))
    return folder


async def test_a_bare_folder_builds_into_its_own_distribution_at_the_apps_version(tmp_path: Path) -> None:
    wheel = await build_connector(_petstore(tmp_path / "petstore"), tmp_path / "dist")
    assert wheel.name == "synthral_connector_petstore-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read("synthral_connector_petstore-0.1.0.dist-info/METADATA").decode()
        entry_points = archive.read("synthral_connector_petstore-0.1.0.dist-info/entry_points.txt").decode()
    assert {"synthral_connector_petstore/app.json", "synthral_connector_petstore/functions.json"} <= names
    assert "Requires-Dist: synthral-sdk<2,>=1.7" in metadata
    assert "### `find_pets`" in metadata  # the generated docs are the package's description
    assert "connector-petstore = synthral_connector_petstore.plugin" in entry_points
    declared = parse_permissions(archive_text(wheel, "synthral_connector_petstore/synthral-plugin.toml"))
    assert declared.to_json() == {"network": ["petstore.swagger.io"], "secrets": ["api_key"]}


def archive_text(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode()


def test_a_connector_declares_its_server_hosts_and_the_credential_it_is_handed(tmp_path: Path) -> None:
    folder = _petstore(tmp_path / "petstore")
    app = json.loads((folder / "app.json").read_text())
    app["server_url"] = "https://{site}.atlassian.net/rest"
    app["security_schemes"] = {"http_basic": {}}
    (folder / "app.json").write_text(json.dumps(app))
    declared = parse_permissions(declared_permissions(load_definition(folder)))
    assert declared.to_json() == {"network": ["*.atlassian.net"], "secrets": ["basic"]}
    app["server_url"] = "https://{host}/api"  # the host is the credential's in full: any host
    (folder / "app.json").write_text(json.dumps(app))
    assert parse_permissions(declared_permissions(load_definition(folder))).network == "any"


async def test_a_folder_without_functions_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = _petstore(tmp_path / "petstore")
    (folder / "functions.json").unlink()
    with pytest.raises(ConfigurationError, match=r"functions.json is missing"):
        await build_connector(folder, tmp_path / "dist")
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


async def test_a_bad_version_is_named_with_the_fix(tmp_path: Path) -> None:
    folder = _petstore(tmp_path / "petstore")
    app = json.loads((folder / "app.json").read_text())
    app["version"] = "1.0"
    (folder / "app.json").write_text(json.dumps(app))
    with pytest.raises(ConfigurationError, match=r"'version'.*not a SemVer version; write MAJOR.MINOR.PATCH"):
        await build_connector(folder, tmp_path / "dist")


def test_write_project_refuses_a_folder_with_files_in_it(tmp_path: Path) -> None:
    folder = _petstore(tmp_path / "petstore")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="not empty"):
        write_project(folder, tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_docs_name_auth_actions_inputs_and_examples(tmp_path: Path) -> None:
    docs = definition_docs(load_definition(_petstore(tmp_path / "petstore")))
    assert "API key: a credential named after the connector" in docs
    assert "### `add_pet`" in docs and '"name": "Tom"' in docs
    assert "| `query.limit` | integer |" in docs


async def test_the_installed_wheel_runs_in_its_venv_and_the_test_runner_reports_both_outcomes(
    tmp_path: Path, host: PluginHost
) -> None:
    wheel = await build_connector(_petstore(tmp_path / "petstore"), tmp_path / "dist")
    await host.install(str(wheel), grant=STAND_IN_GRANT)
    api = StandIn(auth=ApiKeyAuth("k-123", header="X-Api-Key"))

    @api.route("GET", "/pets")
    def pets(request: Recorded) -> Reply:
        return Reply(200, [{"id": 1, "name": "Tom", "tag": request.arg("tags")}])

    @api.route("POST", "/pets")
    def add(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(200, {"id": 2, **body})

    host.egress = EgressSettings.from_env({})  # a server's own default: public addresses only
    with api:
        catalog = ConnectorCatalog(host)
        entry = catalog.get("petstore")
        config = {"base_url": api.url}
        # The stand-in is on this machine: the workspace's network policy refuses it until an
        # operator allows loopback, as for any plugin's requests.
        refused = await run_connector_test(
            catalog, entry, secrets={"api_key": "k-123"}, action="find_pets", payload={}, config=config
        )
        assert not refused.ok and refused.error is not None and refused.error["type"] == "EgressDenied"
        assert api.requests == []
        host.egress = EgressSettings.from_env({"SYNTHRAL_EGRESS_ALLOW": "127.0.0.1"})
        good = await run_connector_test(catalog, entry, secrets={"api_key": "k-123"}, config=config)
        bad = await run_connector_test(catalog, entry, secrets={"api_key": "wrong"}, config=config)
        added = await run_connector_test(catalog, entry, secrets={"api_key": "k-123"}, action="add_pet", config=config)
        found = await run_connector_test(
            catalog,
            entry,
            secrets={"api_key": "k-123"},
            action="find_pets",
            payload={"query": {"tags": ["cat"]}},
            config=config,
        )
        refused = await run_connector_test(
            catalog,
            entry,
            secrets={"api_key": "k-123"},
            action="find_pets",
            payload={"query": {"limit": "x"}},
            config=config,
        )
    assert good.ok and good.output == {"ok": True, "message": "PETSTORE__FIND_PETS answered"}
    assert not bad.ok and bad.output is not None and "401" in str(bad.output["message"])
    assert added.ok and added.output == {"status": 200, "data": {"id": 2, "name": "Tom", "tag": "cat"}, "next": None}
    assert found.ok and found.output is not None and found.output["data"] == [{"id": 1, "name": "Tom", "tag": "cat"}]
    assert not refused.ok and refused.error is not None and "'query.limit' must be integer" in refused.error["message"]
    with pytest.raises(NotFound, match="has no action 'nope'"):
        await run_connector_test(catalog, entry, secrets={}, action="nope")
    with pytest.raises(ConfigurationError, match="declares no example input"):
        await run_connector_test(catalog, entry, secrets={}, action="find_pets")


HAND_WRITTEN = '''
"""A hand-written action beside the declared ones: it reuses the app's auth through call_function."""

from pydantic import BaseModel

from synthral_sdk import Context, Node
from synthral_sdk.rest import RestConfig, call_function


class CountIn(BaseModel):
    tag: str


class CountOut(BaseModel):
    tag: str
    count: int


class CountPets(Node[CountIn, CountOut, RestConfig]):
    name = "count_pets"
    secrets = ("api_key",)

    def run(self, inputs: CountIn, config: RestConfig, context: Context) -> CountOut:
        from synthral_connector_petstore.plugin import plugin

        definition = plugin.definition
        find = definition.function("PETSTORE__FIND_PETS")
        listed = call_function(definition, find, {"query": {"tags": [inputs.tag]}}, config, context)
        return CountOut(tag=inputs.tag, count=len(listed.data) if isinstance(listed.data, list) else 0)


ACTIONS = [CountPets]
'''


async def test_hand_written_actions_sit_beside_the_declared_ones(tmp_path: Path, host: PluginHost) -> None:
    folder = _petstore(tmp_path / "petstore")
    (folder / "actions.py").write_text(HAND_WRITTEN)
    await host.install(str(await build_connector(folder, tmp_path / "dist")), grant=STAND_IN_GRANT)
    api = StandIn(auth=ApiKeyAuth("k-123", header="X-Api-Key"))
    api.route("GET", "/pets")(lambda request: Reply(200, [{"id": 1}, {"id": 2}]))
    host.egress = EgressSettings.from_env({"SYNTHRAL_EGRESS_ALLOW": "127.0.0.1"})  # the stand-in is on this machine
    with api:
        catalog = ConnectorCatalog(host)
        entry = catalog.get("petstore")
        counted = await run_connector_test(
            catalog,
            entry,
            secrets={"api_key": "k-123"},
            action="count_pets",
            payload={"tag": "cat"},
            config={"base_url": api.url},
        )
    assert counted.ok and counted.output == {"tag": "cat", "count": 2}
    assert api.requests[-1].arg("tags") == "cat"


async def test_a_first_party_project_folder_builds_as_it_stands(tmp_path: Path) -> None:
    project = Path(__file__).parents[3] / "plugins" / "connector-github"
    wheel = await build_connector(project, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert wheel.name.startswith("synthral_connector_github-")
    assert {"synthral_connector_github/app.json", "synthral_connector_github/functions.json"} <= names
    assert not any(name.startswith("tests/") for name in names)
