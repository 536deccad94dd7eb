"""OAuth 2.0 for connectors, end to end against a real authorization server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from synthral.errors import ConfigurationError, Conflict, NotFound, RetryableError
from synthral.plugins.host import PluginHost
from synthral.security.crypto import NONCE_BYTES, KeyRing, Sealed, generate_key
from synthral.services.connectors import ConnectorCatalog
from synthral.services.oauth import OAuthService, client_credential_name
from synthral.services.secrets import CredentialService, CredentialView
from synthral.store.db import Database
from synthral.store.tables import CREDENTIAL, OAUTH_STATE, WORKSPACE, new_id, utcnow
from synthral_sdk import AuthSpec
from tests.support.oauth_server import OAuthTestServer
from tests.support.settings import make_settings

PUBLIC_URL = "http://127.0.0.1:8731"
USER = "user-ada"
SECRET = "app-secret-9f8e7d6c5b4a"


@pytest.fixture
async def plugins(oauthy_home: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    plugin_host = PluginHost(make_settings(oauthy_home, wheelhouse))
    yield plugin_host
    await plugin_host.close()


@pytest.fixture
def provider() -> Iterator[OAuthTestServer]:
    with OAuthTestServer() as server:
        yield server


@dataclass
class Setup:
    service: OAuthService
    credentials: CredentialService
    keyring: KeyRing
    database: Database
    provider: OAuthTestServer
    workspace_id: str

    async def follow(self, url: str) -> dict[str, str]:
        """Open the authorization URL as a browser would; the provider's redirect's query parameters."""
        async with httpx.AsyncClient() as browser:
            response = await browser.get(url)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(PUBLIC_URL + "/api/v1/connectors/")
        return dict(parse_qsl(urlsplit(location).query))

    async def callback(self, connector: str, params: dict[str, str]) -> CredentialView:
        return await self.service.callback(
            connector,
            code=params.get("code"),
            state=params.get("state"),
            error=params.get("error"),
            error_description=params.get("error_description"),
        )

    async def connect(self, connector: str = "oauthy") -> CredentialView:
        url = await self.service.authorize(self.workspace_id, USER, connector)
        return await self.callback(connector, await self.follow(url))

    async def tokens(self, connector: str = "oauthy") -> dict[str, Any]:
        value = await self.credentials.get_value(self.workspace_id, connector)
        assert isinstance(value, dict)
        return value

    async def works(self, access_token: str) -> bool:
        async with httpx.AsyncClient() as client:
            response = await client.get(self.provider.userinfo_url, headers={"Authorization": f"Bearer {access_token}"})
        return response.status_code == 200


@pytest.fixture
async def oauth(database: Database, plugins: PluginHost, provider: OAuthTestServer) -> AsyncIterator[Setup]:
    keyring = KeyRing.single(generate_key())
    workspace_id = new_id()
    await database.write(
        lambda connection: connection.execute(
            insert(WORKSPACE).values(id=workspace_id, slug=f"ws-{workspace_id[:8]}", name="Team", created_at=utcnow())
        )
    )
    credentials = CredentialService(database, keyring)
    service = OAuthService(
        database, credentials, keyring, ConnectorCatalog(plugins).auth_spec, public_url=PUBLIC_URL + "/"
    )
    provider.add_client("synthral-app", SECRET, [service.redirect_uri("oauthy")])
    await service.register_client(
        workspace_id,
        "oauthy",
        "synthral-app",
        SECRET,
        authorize_url=provider.authorize_url,
        token_url=provider.token_url,
    )
    yield Setup(service, credentials, keyring, database, provider, workspace_id)
    await service.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# -- the flow ---------------------------------------------------------------------------


async def test_a_user_connects_and_the_access_token_works(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(oauth.provider.authorize_url + "?")
    assert query["response_type"] == "code"
    assert query["client_id"] == "synthral-app"
    assert query["redirect_uri"] == f"{PUBLIC_URL}/api/v1/connectors/oauthy/callback"
    assert query["scope"] == "read write"
    assert len(query["state"]) >= 43  # 32 random bytes
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43

    view = await oauth.callback("oauthy", await oauth.follow(url))

    assert view.name == "oauthy"
    assert view.kind == "oauth2"
    assert view.meta["scopes"] == ["read", "write"]
    assert view.meta["connected_by"] == USER
    assert view.meta["expires_at"] is not None
    tokens = await oauth.tokens()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_at", "scope"}
    assert tokens["token_type"] == "Bearer"
    assert not {tokens["access_token"], tokens["refresh_token"]} & {str(v) for v in view.meta.values()}
    token = await oauth.service.access_token(oauth.workspace_id, "oauthy")
    assert token == tokens["access_token"]
    assert await oauth.works(token)
    assert oauth.provider.grants_served == ["authorization_code"]


async def test_tokens_state_and_verifier_are_never_stored_in_clear(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    params = await oauth.follow(url)
    challenge = dict(parse_qsl(urlsplit(url).query))["code_challenge"]

    async with oauth.database.engine.connect() as connection:
        pending = (await connection.execute(select(OAUTH_STATE))).one()
    assert pending.state_hash == hashlib.sha256(params["state"].encode()).hexdigest()
    sealed = bytes(pending.code_verifier)
    verifier = oauth.keyring.open(
        Sealed(pending.key_id, sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]), f"oauth-state:{pending.state_hash}"
    )
    assert s256(verifier.decode()) == challenge
    await oauth.callback("oauthy", params)
    tokens = await oauth.tokens()

    async with oauth.database.engine.connect() as connection:
        rows = [
            *(await connection.execute(select(CREDENTIAL))).all(),
            *(await connection.execute(select(OAUTH_STATE))).all(),
        ]
    everything = repr(rows).encode()
    for secret in (tokens["access_token"], tokens["refresh_token"], params["state"], verifier.decode(), SECRET):
        assert secret.encode() not in everything
    if not oauth.database.is_postgres:
        path = Path(oauth.database.url.split("///", 1)[1])
        files = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for secret in (tokens["access_token"], tokens["refresh_token"], params["state"], verifier.decode(), SECRET):
            assert secret.encode() not in files


@pytest.mark.parametrize("method", ["client_secret_post", "none"])
async def test_secret_in_the_form_or_a_public_client_with_pkce(oauth: Setup, method: str) -> None:
    secret = None if method == "none" else "post-secret-0123456789"
    oauth.provider.add_client("form-app", secret, [oauth.service.redirect_uri("oauthy")], auth_method=method)  # type: ignore[arg-type]
    await oauth.service.register_client(
        oauth.workspace_id,
        "oauthy",
        "form-app",
        secret,
        authorize_url=oauth.provider.authorize_url,
        token_url=oauth.provider.token_url,
        auth_method="client_secret_post",
    )
    await oauth.connect()
    assert await oauth.works(await oauth.service.access_token(oauth.workspace_id, "oauthy"))


async def test_a_connector_without_pkce(oauth: Setup) -> None:
    oauth.provider.add_client("legacy-app", "legacy-secret-abcdef", [oauth.service.redirect_uri("legacy")])
    await oauth.service.register_client(
        oauth.workspace_id,
        "legacy",
        "legacy-app",
        "legacy-secret-abcdef",
        authorize_url=oauth.provider.authorize_url,
        token_url=oauth.provider.token_url,
    )
    url = await oauth.service.authorize(oauth.workspace_id, USER, "legacy")
    query = dict(parse_qsl(urlsplit(url).query))
    assert "code_challenge" not in query
    assert query["scope"] == "profile"
    view = await oauth.callback("legacy", await oauth.follow(url))
    assert view.meta["scopes"] == ["profile"]


async def test_a_self_hosted_provider_needs_its_endpoints(oauth: Setup) -> None:
    with pytest.raises(ConfigurationError, match="declares no authorize_url") as raised:
        await oauth.service.register_client(oauth.workspace_id, "selfhosted", "app", "secret-of-selfhosted")
    assert raised.value.details["field"] == "authorize_url"

    oauth.provider.add_client("self-app", "secret-of-selfhosted", [oauth.service.redirect_uri("selfhosted")])
    await oauth.service.register_client(
        oauth.workspace_id,
        "selfhosted",
        "self-app",
        "secret-of-selfhosted",
        authorize_url=oauth.provider.authorize_url + "?tenant=acme",
        token_url=oauth.provider.token_url,
    )
    url = await oauth.service.authorize(oauth.workspace_id, USER, "selfhosted")
    assert url.startswith(oauth.provider.authorize_url + "?tenant=acme&response_type=code")
    await oauth.callback("selfhosted", await oauth.follow(url))
    assert await oauth.works(await oauth.service.access_token(oauth.workspace_id, "selfhosted"))


async def test_the_service_takes_a_function_for_auth_specs(oauth: Setup) -> None:
    async def specs(connector: str) -> AuthSpec | None:
        if connector != "custom":
            return None
        return AuthSpec(
            type="oauth2",
            scopes=["read"],
            authorize_url=oauth.provider.authorize_url,
            token_url=oauth.provider.token_url,
        )

    async with httpx.AsyncClient() as http:
        service = OAuthService(
            oauth.database, oauth.credentials, oauth.keyring, specs, public_url=PUBLIC_URL, http=http
        )
        oauth.provider.add_client("custom-app", "custom-secret-123456", [service.redirect_uri("custom")])
        await service.register_client(oauth.workspace_id, "custom", "custom-app", "custom-secret-123456")
        url = await service.authorize(oauth.workspace_id, USER, "custom")
        params = await oauth.follow(url)
        await service.callback("custom", code=params["code"], state=params["state"])
        assert await oauth.works(await service.access_token(oauth.workspace_id, "custom"))
        with pytest.raises(NotFound, match="no installed plugin offers a connector named 'oauthy'"):
            await service.authorize(oauth.workspace_id, USER, "oauthy")
        await service.close()  # the client passed in stays open
        assert not http.is_closed


# -- refresh ----------------------------------------------------------------------------


async def test_a_fresh_token_is_not_refreshed(oauth: Setup) -> None:
    await oauth.connect()
    first = await oauth.service.access_token(oauth.workspace_id, "oauthy")
    second = await oauth.service.access_token(oauth.workspace_id, "oauthy")
    assert first == second
    assert oauth.provider.refreshes == 0


async def test_a_token_about_to_expire_is_refreshed_and_the_refresh_token_rotated(oauth: Setup) -> None:
    oauth.provider.access_token_lifetime = 30  # valid, but within the 60 s margin
    await oauth.connect()
    before = await oauth.tokens()
    oauth.provider.access_token_lifetime = 3600

    token = await oauth.service.access_token(oauth.workspace_id, "oauthy")

    after = await oauth.tokens()
    assert token != before["access_token"]
    assert token == after["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert after["expires_at"] > before["expires_at"]
    assert await oauth.works(token)
    assert oauth.provider.refreshes == 1
    view = await oauth.credentials.view(oauth.workspace_id, "oauthy")
    assert view.meta["expires_at"] == after["expires_at"]
    assert view.meta["connected_by"] == USER
    assert await oauth.service.access_token(oauth.workspace_id, "oauthy") == token
    assert oauth.provider.refreshes == 1


async def test_the_refresh_token_is_kept_when_the_provider_does_not_rotate_it(oauth: Setup) -> None:
    oauth.provider.rotate_refresh_tokens = False
    oauth.provider.access_token_lifetime = 30
    await oauth.connect()
    original = (await oauth.tokens())["refresh_token"]

    first = await oauth.service.access_token(oauth.workspace_id, "oauthy")
    assert (await oauth.tokens())["refresh_token"] == original
    second = await oauth.service.access_token(oauth.workspace_id, "oauthy")  # refreshed again with the same one

    assert first != second
    assert (await oauth.tokens())["refresh_token"] == original
    assert oauth.provider.refreshes == 2
    assert await oauth.works(second)


async def test_concurrent_callers_share_one_refresh(oauth: Setup) -> None:
    oauth.provider.access_token_lifetime = 30
    await oauth.connect()
    oauth.provider.access_token_lifetime = 3600
    oauth.provider.refresh_delay = 0.2

    tokens = await asyncio.gather(*(oauth.service.access_token(oauth.workspace_id, "oauthy") for _ in range(12)))

    assert len(set(tokens)) == 1
    assert oauth.provider.refresh_attempts == 1
    assert await oauth.works(tokens[0])


async def test_workers_sharing_postgresql_share_one_refresh(oauth: Setup) -> None:
    if not oauth.database.is_postgres:
        pytest.skip("several workers share a PostgreSQL database; SQLite serves one host process")
    oauth.provider.access_token_lifetime = 30
    await oauth.connect()
    oauth.provider.access_token_lifetime = 3600
    oauth.provider.refresh_delay = 0.2
    other = OAuthService(
        oauth.database, oauth.credentials, oauth.keyring, oauth.service.auth_specs, public_url=PUBLIC_URL
    )

    try:
        tokens = await asyncio.gather(
            *(
                service.access_token(oauth.workspace_id, "oauthy")
                for service in (oauth.service, other)
                for _ in range(3)
            )
        )
    finally:
        await other.close()

    assert len(set(tokens)) == 1
    assert oauth.provider.refresh_attempts == 1


async def test_refresh_now_refreshes_a_token_that_is_not_due(oauth: Setup) -> None:
    await oauth.connect()
    before = await oauth.tokens()
    view = await oauth.service.refresh_now(oauth.workspace_id, "oauthy")
    after = await oauth.tokens()
    assert after["access_token"] != before["access_token"]
    assert view.meta["expires_at"] == after["expires_at"]
    assert oauth.provider.refreshes == 1


async def test_without_a_refresh_token_the_token_serves_until_it_expires(oauth: Setup) -> None:
    oauth.provider.add_client(
        "no-refresh-app", "no-refresh-secret-1234", [oauth.service.redirect_uri("oauthy")], refresh_tokens=False
    )
    await oauth.service.register_client(
        oauth.workspace_id,
        "oauthy",
        "no-refresh-app",
        "no-refresh-secret-1234",
        authorize_url=oauth.provider.authorize_url,
        token_url=oauth.provider.token_url,
    )
    oauth.provider.access_token_lifetime = 30
    await oauth.connect()
    tokens = await oauth.tokens()
    assert tokens["refresh_token"] is None

    assert await oauth.service.access_token(oauth.workspace_id, "oauthy") == tokens["access_token"]
    with pytest.raises(ConfigurationError, match="cannot be refreshed: the provider issued no refresh token"):
        await oauth.service.refresh_now(oauth.workspace_id, "oauthy")

    expired = {**tokens, "expires_at": (utcnow() - timedelta(seconds=5)).isoformat()}
    await oauth.credentials.put(oauth.workspace_id, "oauthy", expired, kind="oauth2")
    with pytest.raises(ConfigurationError, match="expired: the provider issued no refresh token") as raised:
        await oauth.service.access_token(oauth.workspace_id, "oauthy")
    assert "POST /api/v1/connectors/oauthy/authorize" in raised.value.message
    assert (await oauth.credentials.view(oauth.workspace_id, "oauthy")).meta["needs_reauthorization"] is True
    assert oauth.provider.refreshes == 0


async def test_a_refused_refresh_asks_for_a_new_authorization(oauth: Setup) -> None:
    oauth.provider.access_token_lifetime = 30
    await oauth.connect()
    oauth.provider.revoke_all()  # the user disconnected the app at the provider

    with pytest.raises(ConfigurationError, match="refused to refresh") as raised:
        await oauth.service.access_token(oauth.workspace_id, "oauthy")
    assert "POST /api/v1/connectors/oauthy/authorize" in raised.value.message
    assert raised.value.details["needs_reauthorization"] is True
    view = await oauth.credentials.view(oauth.workspace_id, "oauthy")
    assert view.meta["needs_reauthorization"] is True
    assert "access_token" not in await oauth.tokens()

    served = len(oauth.provider.grants_served)
    with pytest.raises(ConfigurationError, match="must be connected again"):
        await oauth.service.access_token(oauth.workspace_id, "oauthy")
    assert len(oauth.provider.grants_served) == served  # no second attempt at the provider

    oauth.provider.access_token_lifetime = 3600
    view = await oauth.connect()
    assert "needs_reauthorization" not in view.meta
    assert await oauth.works(await oauth.service.access_token(oauth.workspace_id, "oauthy"))


async def test_a_connector_not_connected_says_how_to_connect(oauth: Setup) -> None:
    with pytest.raises(NotFound, match="not connected in this workspace") as raised:
        await oauth.service.access_token(oauth.workspace_id, "oauthy")
    assert "POST /api/v1/connectors/oauthy/authorize" in raised.value.message


async def test_an_unreachable_token_endpoint_is_retryable(oauth: Setup) -> None:
    closed = f"http://127.0.0.1:{closed_port()}/token"
    await oauth.service.register_client(
        oauth.workspace_id,
        "oauthy",
        "synthral-app",
        SECRET,
        authorize_url=oauth.provider.authorize_url,
        token_url=closed,
    )
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    with pytest.raises(RetryableError, match="could not be reached"):
        await oauth.callback("oauthy", await oauth.follow(url))


# -- the state --------------------------------------------------------------------------


async def test_a_state_works_once(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    params = await oauth.follow(url)
    await oauth.callback("oauthy", params)
    with pytest.raises(Conflict, match="a state works once"):
        await oauth.callback("oauthy", params)


async def test_concurrent_callbacks_with_one_state_connect_once(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    params = await oauth.follow(url)
    outcomes = await asyncio.gather(*(oauth.callback("oauthy", params) for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(outcome, CredentialView) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, Conflict) for outcome in outcomes) == 4
    assert oauth.provider.grants_served == ["authorization_code"]


async def test_an_unknown_or_missing_state_is_refused(oauth: Setup) -> None:
    with pytest.raises(NotFound, match="no authorization is pending for this state"):
        await oauth.service.callback("oauthy", code="some-code", state="made-up-state")
    with pytest.raises(ConfigurationError, match="no 'state' parameter"):
        await oauth.service.callback("oauthy", code="some-code", state=None)


async def test_an_expired_state_is_refused(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    params = await oauth.follow(url)

    def age(connection: Connection) -> None:
        connection.execute(update(OAUTH_STATE).values(expires_at=utcnow() - timedelta(seconds=1)))

    await oauth.database.write(age)
    with pytest.raises(ConfigurationError, match="the authorization expired"):
        await oauth.callback("oauthy", params)
    assert oauth.provider.grants_served == []


async def test_a_callback_for_another_connector_is_refused(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    params = await oauth.follow(url)
    with pytest.raises(ConfigurationError, match="started for 'oauthy'") as raised:
        await oauth.callback("legacy", params)
    assert raised.value.details["expected"] == "oauthy"
    with pytest.raises(Conflict):  # spent by the first presentation
        await oauth.callback("oauthy", params)


async def test_a_pkce_verifier_mismatch_is_rejected_by_the_provider(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["code_challenge"] = s256("an-attacker-verifier-" + "x" * 40)  # a code injected from another session
    params = await oauth.follow(urlunsplit(parts._replace(query=urlencode(query))))

    with pytest.raises(ConfigurationError, match="invalid_grant: Code challenge failed"):
        await oauth.callback("oauthy", params)
    with pytest.raises(NotFound):
        await oauth.credentials.view(oauth.workspace_id, "oauthy")


async def test_the_providers_error_is_reported(oauth: Setup) -> None:
    oauth.provider.approve = False
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    params = await oauth.follow(url)
    assert params["error"] == "access_denied"

    with pytest.raises(ConfigurationError, match="refused to authorize connector 'oauthy' \\(access_denied") as raised:
        await oauth.callback("oauthy", params)
    assert "the user declined" in raised.value.message
    with pytest.raises(Conflict):
        await oauth.callback("oauthy", params)


async def test_a_callback_without_code_or_error_is_refused(oauth: Setup) -> None:
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    params = await oauth.follow(url)
    with pytest.raises(ConfigurationError, match="neither 'code' nor 'error'"):
        await oauth.service.callback("oauthy", code=None, state=params["state"])


# -- bad set-up -------------------------------------------------------------------------


async def test_a_wrong_client_secret_is_reported_as_such(oauth: Setup) -> None:
    await oauth.service.register_client(
        oauth.workspace_id,
        "oauthy",
        "synthral-app",
        "not-the-secret",
        authorize_url=oauth.provider.authorize_url,
        token_url=oauth.provider.token_url,
    )
    url = await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    with pytest.raises(ConfigurationError, match="rejected the client \\(invalid_client") as raised:
        await oauth.callback("oauthy", await oauth.follow(url))
    assert "not-the-secret" not in raised.value.message


async def test_authorizing_without_a_registered_client_names_the_redirect_uri(oauth: Setup) -> None:
    await oauth.credentials.delete(oauth.workspace_id, client_credential_name("oauthy"))
    with pytest.raises(ConfigurationError, match="no OAuth client is registered") as raised:
        await oauth.service.authorize(oauth.workspace_id, USER, "oauthy")
    assert f"{PUBLIC_URL}/api/v1/connectors/oauthy/callback" in raised.value.message


async def test_the_client_registration_is_sealed_and_its_meta_shows_no_secret(oauth: Setup) -> None:
    view = await oauth.credentials.view(oauth.workspace_id, client_credential_name("oauthy"))
    assert view.kind == "oauth_client"
    assert view.meta["token_url"] == oauth.provider.token_url
    assert SECRET not in repr(view)
    assert await oauth.credentials.get_value(oauth.workspace_id, client_credential_name("oauthy")) == {
        "client_id": "synthral-app",
        "client_secret": SECRET,
    }


@pytest.mark.parametrize(
    ("connector", "kwargs", "error", "message"),
    [
        ("nothing-here", {}, NotFound, "no installed plugin offers a connector named 'nothing-here'"),
        ("Bad/Name", {}, ConfigurationError, "is not a connector name"),
        ("keyed", {}, ConfigurationError, "authorises with 'api_key', not OAuth 2.0"),
        ("oauthy", {"token_url": "http://provider.example/token"}, ConfigurationError, "is not an https:// URL"),
        ("oauthy", {"authorize_url": "ftp://provider.example/auth"}, ConfigurationError, "is not an https:// URL"),
        ("oauthy", {"client_id": " "}, ConfigurationError, "client_id is empty"),
        ("oauthy", {"client_secret": ""}, ConfigurationError, "client_secret is empty"),
        ("legacy", {"client_secret": None}, ConfigurationError, "does not use PKCE, so its client must authenticate"),
    ],
)
async def test_bad_registrations_are_refused(
    oauth: Setup, connector: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"client_id": "app", "client_secret": "a-client-secret", **kwargs}
    with pytest.raises(error, match=message):
        await oauth.service.register_client(oauth.workspace_id, connector, **arguments)


async def test_a_public_url_that_is_not_a_base_url_is_refused(oauth: Setup) -> None:
    for url in ("synthral.example.com", "https://synthral.example.com/?x=1", "mailto:ops@example.com"):
        with pytest.raises(ConfigurationError, match="is not the server's base URL"):
            OAuthService(oauth.database, oauth.credentials, oauth.keyring, oauth.service.auth_specs, public_url=url)
