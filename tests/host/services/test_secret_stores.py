"""Secrets resolved through a real secret-store plugin process: the Infisical plugin and a stand-in Infisical."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from synthral.config import Settings
from synthral.errors import (
    ConfigurationError,
    NonRetryableError,
    PluginNotFound,
    RetryableError,
    UnknownCapability,
)
from synthral.plugins.host import PluginHost
from synthral.services.secret_stores import (
    PluginSecretResolver,
    configured_secret_resolver,
    store_credentials,
)
from tests.support.infisical import InfisicalStandIn, serve_infisical
from tests.support.settings import GRANT_ALL, REPO, make_settings


def configured(host: PluginHost, environ: dict[str, str]) -> PluginSecretResolver | None:
    """The resolver a process whose environment is ``environ`` builds."""
    security = Settings.load(environ).security
    return configured_secret_resolver(host, store_credentials(security), security)


STORE = "secrets-infisical/infisical"
PROJECT = "proj-42"
IDENTITIES = {"id-team-a": "s3cret-of-team-a", "id-team-b": "s3cret-of-team-b"}
LOGIN_BY_WORKSPACE = {
    "ws-a": {"client_id": "id-team-a", "client_secret": "s3cret-of-team-a"},
    "ws-b": {"client_id": "id-team-b", "client_secret": "s3cret-of-team-b"},
}


class Credentials:
    """The store's login secrets per workspace, remembering who asked."""

    def __init__(self, by_workspace: dict[str, dict[str, str]]) -> None:
        self.by_workspace = by_workspace
        self.asked: list[str | None] = []

    async def __call__(self, workspace_id: str | None) -> dict[str, str]:
        self.asked.append(workspace_id)
        return dict(self.by_workspace.get(workspace_id or "", {}))


@pytest.fixture(scope="module")
def infisical_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A home with the secrets-infisical plugin installed from its source folder, made once."""
    home = tmp_path_factory.mktemp("infisical-home")

    async def install() -> None:
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        await plugin_host.install(str(REPO / "plugins" / "secrets-infisical"), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home


@pytest.fixture
async def store_host(infisical_home: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    plugin_host = PluginHost(make_settings(infisical_home, wheelhouse))
    yield plugin_host
    await plugin_host.close()


@pytest.fixture
def infisical() -> Iterator[InfisicalStandIn]:
    yield from serve_infisical(IDENTITIES)


def config_for(infisical: InfisicalStandIn, **overrides: object) -> dict[str, object]:
    return {"site_url": infisical.url, "project_id": PROJECT, "environment": "prod", **overrides}


# -- through the plugin process ----------------------------------------------------------


@pytest.mark.slow
async def test_resolves_granted_names_through_the_plugin_process(
    store_host: PluginHost, infisical: InfisicalStandIn
) -> None:
    infisical.put(PROJECT, "prod", "/", "OPENAI_KEY", "sk-openai-123")
    infisical.put(PROJECT, "prod", "/", "DB_URL", "postgres://db")
    credentials = Credentials(LOGIN_BY_WORKSPACE)
    resolver = PluginSecretResolver(store_host, STORE, config_for(infisical), credentials)

    values = await resolver(["OPENAI_KEY", "DB_URL", "OPENAI_KEY"], "ws-a")

    assert values == {"OPENAI_KEY": "sk-openai-123", "DB_URL": "postgres://db"}
    assert credentials.asked == ["ws-a"]
    assert infisical.logins == ["id-team-a"]  # one login: the token is reused for both reads
    assert sorted(infisical.reads) == [("/", "DB_URL"), ("/", "OPENAI_KEY")]


@pytest.mark.slow
async def test_each_workspace_logs_in_as_its_own_identity_and_reads_its_folder(
    store_host: PluginHost, infisical: InfisicalStandIn
) -> None:
    infisical.put(PROJECT, "prod", "/synthral/ws-a", "API_KEY", "key-of-a")
    infisical.put(PROJECT, "prod", "/synthral/ws-b", "API_KEY", "key-of-b")
    config = config_for(infisical, secret_path="/synthral", folder_per_scope=True)
    resolver = PluginSecretResolver(store_host, STORE, config, Credentials(LOGIN_BY_WORKSPACE))

    assert await resolver(["API_KEY"], "ws-a") == {"API_KEY": "key-of-a"}
    assert await resolver(["API_KEY"], "ws-b") == {"API_KEY": "key-of-b"}
    assert infisical.logins == ["id-team-a", "id-team-b"]


@pytest.mark.slow
async def test_without_a_workspace_the_store_reads_its_own_folder(
    store_host: PluginHost, infisical: InfisicalStandIn
) -> None:
    infisical.put(PROJECT, "prod", "/synthral", "API_KEY", "shared")
    config = config_for(infisical, secret_path="/synthral", folder_per_scope=True)
    resolver = PluginSecretResolver(store_host, STORE, config, Credentials({"": LOGIN_BY_WORKSPACE["ws-a"]}))

    assert await resolver(["API_KEY"], None) == {"API_KEY": "shared"}


@pytest.mark.slow
async def test_a_missing_secret_names_it_and_the_store(store_host: PluginHost, infisical: InfisicalStandIn) -> None:
    infisical.put(PROJECT, "prod", "/", "THERE", "v")
    resolver = PluginSecretResolver(store_host, STORE, config_for(infisical), Credentials(LOGIN_BY_WORKSPACE))

    with pytest.raises(ConfigurationError) as caught:
        await resolver(["THERE", "NOPE", "ALSO_NOPE"], "ws-a")

    message = caught.value.message
    assert message.startswith(f"secrets 'NOPE', 'ALSO_NOPE' are not in the secret store {STORE} for workspace ws-a")
    assert "add them to the store, or take them out of the step's secrets" in message
    assert caught.value.details == {"secrets": ["NOPE", "ALSO_NOPE"], "store": STORE, "workspace": "ws-a"}


@pytest.mark.slow
async def test_a_refused_login_keeps_its_type_and_names_the_store(
    store_host: PluginHost, infisical: InfisicalStandIn
) -> None:
    wrong = {"ws-a": {"client_id": "id-team-a", "client_secret": "not-the-r1ght-secret"}}
    resolver = PluginSecretResolver(store_host, STORE, config_for(infisical), Credentials(wrong))

    with pytest.raises(NonRetryableError) as caught:
        await resolver(["API_KEY"], "ws-a")

    assert caught.value.message.startswith(f"secret store {STORE}: Infisical at {infisical.url} refused the Universal")
    assert "not-the-r1ght-secret" not in caught.value.message
    assert caught.value.details["store"] == STORE


@pytest.mark.slow
async def test_login_secrets_the_store_does_not_declare_are_not_passed_on(
    store_host: PluginHost, infisical: InfisicalStandIn
) -> None:
    extra = {"ws-a": {**LOGIN_BY_WORKSPACE["ws-a"], "unrelated": "x"}}
    missing = {"ws-a": {"client_id": "id-team-a", "unrelated": "s3cret-of-team-a"}}
    infisical.put(PROJECT, "prod", "/", "K", "v")

    assert await PluginSecretResolver(store_host, STORE, config_for(infisical), Credentials(extra))(["K"], "ws-a") == {
        "K": "v"
    }
    with pytest.raises(ConfigurationError, match="the call was granted no 'client_secret'"):
        await PluginSecretResolver(store_host, STORE, config_for(infisical), Credentials(missing))(["K"], "ws-a")


@pytest.mark.slow
async def test_a_store_that_is_down_is_retryable(store_host: PluginHost) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {"site_url": f"http://127.0.0.1:{port}", "project_id": PROJECT, "environment": "prod"}
    resolver = PluginSecretResolver(store_host, STORE, config, Credentials(LOGIN_BY_WORKSPACE))

    with pytest.raises(RetryableError, match=f"secret store {STORE}: ") as caught:
        await resolver(["API_KEY"], "ws-a")
    # Unsandboxed the connection fails; in the sandbox the egress proxy answers 502 for the target.
    message = caught.value.message
    assert "could not reach Infisical" in message or f"502: 127.0.0.1:{port} does not answer" in message, message


@pytest.mark.slow
async def test_the_environment_builds_a_working_resolver(store_host: PluginHost, infisical: InfisicalStandIn) -> None:
    infisical.put(PROJECT, "staging", "/apps", "API_KEY", "from-env-setup")
    environ = {
        "SYNTHRAL_SECRET_STORE_CREDENTIAL_CLIENT_ID": "id-team-b",
        "SYNTHRAL_SECRET_STORE_CREDENTIAL_CLIENT_SECRET": "s3cret-of-team-b",
        "SYNTHRAL_SECRET_STORE": STORE,
        "SYNTHRAL_SECRET_STORE_CONFIG": f'{{"site_url": "{infisical.url}", "project_id": "{PROJECT}", '
        '"environment": "staging", "secret_path": "/apps"}',
    }

    resolver = configured(store_host, environ)

    assert resolver is not None and resolver.capability == STORE
    assert await resolver(["API_KEY"], "ws-a") == {"API_KEY": "from-env-setup"}
    assert infisical.logins == ["id-team-b"]


@pytest.mark.slow
async def test_the_environment_config_is_checked_against_the_store_schema(store_host: PluginHost) -> None:
    environ = {"SYNTHRAL_SECRET_STORE": STORE, "SYNTHRAL_SECRET_STORE_CONFIG": '{"environment": 7, "colour": "red"}'}

    with pytest.raises(ConfigurationError) as caught:
        configured(store_host, environ)

    message = caught.value.message
    assert message.startswith(f"SYNTHRAL_SECRET_STORE_CONFIG does not fit the config of {STORE}:")
    assert "'project_id' is a required property" in message
    assert "field 'environment': 7 is not of type 'string'" in message
    assert "'colour' was unexpected" in message


# -- without a plugin installed ----------------------------------------------------------


async def test_local_is_the_default(host: PluginHost) -> None:
    assert configured(host, {}) is None
    assert configured(host, {"SYNTHRAL_SECRET_STORE": "local"}) is None
    assert configured(host, {"SYNTHRAL_SECRET_STORE": " "}) is None


async def test_config_for_the_local_store_is_refused(host: PluginHost) -> None:
    environ = {"SYNTHRAL_SECRET_STORE_CONFIG": '{"project_id": "p"}'}

    with pytest.raises(ConfigurationError, match="SYNTHRAL_SECRET_STORE_CONFIG is set but SYNTHRAL_SECRET_STORE is"):
        configured(host, environ)


@pytest.mark.parametrize("choice", ["infisical", "secrets-infisical/", "/infisical", "a/b/c"])
async def test_a_malformed_store_name_says_what_to_write(host: PluginHost, choice: str) -> None:
    with pytest.raises(ConfigurationError, match="is neither 'local' nor PLUGIN/CAPABILITY") as caught:
        configured(host, {"SYNTHRAL_SECRET_STORE": choice})

    assert "secrets-infisical/infisical" in caught.value.message
    assert caught.value.details == {"variable": "SYNTHRAL_SECRET_STORE"}


@pytest.mark.parametrize(
    ("raw", "problem"), [("{not json", "is not valid JSON"), ('["a list"]', "is JSON but not an object")]
)
async def test_a_config_that_is_not_a_json_object_is_refused(host: PluginHost, raw: str, problem: str) -> None:
    environ = {"SYNTHRAL_SECRET_STORE": STORE, "SYNTHRAL_SECRET_STORE_CONFIG": raw}

    with pytest.raises(ConfigurationError, match=f"SYNTHRAL_SECRET_STORE_CONFIG {problem}"):
        configured(host, environ)


async def test_a_store_that_is_not_installed_says_how_to_install_it(host: PluginHost) -> None:
    with pytest.raises(PluginNotFound, match="install it with 'synthral plugin install"):
        configured(host, {"SYNTHRAL_SECRET_STORE": STORE})


async def test_a_capability_that_is_not_a_secret_store_is_refused(host: PluginHost) -> None:
    with pytest.raises(ConfigurationError, match="core/set is a node, not a secret store"):
        configured(host, {"SYNTHRAL_SECRET_STORE": "core/set"})
    with pytest.raises(UnknownCapability, match="has no capability 'vault'"):
        configured(host, {"SYNTHRAL_SECRET_STORE": "core/vault"})


async def test_no_names_ask_nothing(host: PluginHost) -> None:
    credentials = Credentials(LOGIN_BY_WORKSPACE)
    resolver = PluginSecretResolver(host, STORE, {}, credentials)  # not even installed

    assert await resolver([], "ws-a") == {}
    assert credentials.asked == []


async def test_the_store_login_comes_from_the_prefixed_variables() -> None:
    security = Settings.load(
        {
            "SYNTHRAL_SECRET_STORE_CREDENTIAL_CLIENT_ID": "cid",
            "SYNTHRAL_SECRET_STORE_CREDENTIAL_": "ignored",
            "SYNTHRAL_SECRET_STORE": "local",
        }
    ).security

    found = await store_credentials(security)("ws-a")

    assert found == {"client_id": "cid"}
    assert "client_id" not in security.step_secrets  # a store login is not a step secret
