"""Single sign-on against a real OpenID provider on loopback, through the running API, on both backends."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from synthral.api.app import close_server
from synthral.api.state import ServerState
from synthral.config import Settings
from synthral.errors import ConfigurationError
from synthral.services.oidc import OidcService, OidcSettings
from synthral.store.db import Database
from synthral.store.tables import USER
from tests.support.api import PASSWORD, make_state, serving
from tests.support.oidc_provider import OidcTestProvider, OidcUser

CLIENT_ID = "synthral-server"
CLIENT_SECRET = "provider-issued-secret"


@dataclass
class Sso:
    """The API with single sign-on against the test provider."""

    http: httpx.AsyncClient
    state: ServerState
    provider: OidcTestProvider
    public_url: str
    database: Database

    async def configure(self, **changes: object) -> OidcService:
        """Replace the server's OIDC service with one of changed settings."""
        if self.state.oidc is not None:
            await self.state.oidc.close()
        settings = OidcSettings(issuer=self.provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        service = OidcService(
            self.state.identity,
            self.database,
            self.state.app.keyring,
            dataclasses.replace(settings, **changes),  # type: ignore[arg-type]
            public_url=self.public_url,
        )
        self.state.oidc = service
        return service

    async def provider_redirect(self) -> str:
        """Start a sign-in and let the provider approve it: the callback URL it sends the browser to."""
        start = await self.http.get("/auth/oidc/login")
        assert start.status_code == 302, start.text
        assert start.headers["location"].startswith(self.provider.issuer + "/authorize?")
        async with httpx.AsyncClient(timeout=30.0) as browser:
            approved = await browser.get(start.headers["location"])
        assert approved.status_code == 302, approved.text
        location = approved.headers["location"]
        assert location.startswith(self.public_url + "/api/v1/auth/oidc/callback?")
        return location

    async def sign_in(self) -> httpx.Response:
        """A whole sign-in: the callback's answer."""
        return await self.http.get(await self.provider_redirect())

    async def user_row(self, email: str) -> dict[str, object]:
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(USER).where(USER.c.email == email))).one()
        return dict(row._mapping)


@pytest.fixture
def provider() -> Iterator[OidcTestProvider]:
    with OidcTestProvider() as running:
        yield running


@pytest.fixture
async def sso(database: Database, tmp_path: Path, wheelhouse: Path, provider: OidcTestProvider) -> AsyncIterator[Sso]:
    state, plugins = await make_state(database, tmp_path / "home", wheelhouse)
    async with serving(state) as url, httpx.AsyncClient(base_url=url + "/api/v1", timeout=30.0) as http:
        sso = Sso(http, state, provider, url, database)
        service = await sso.configure()
        provider.add_client(CLIENT_ID, CLIENT_SECRET, [service.redirect_uri])
        yield sso
        if state.oidc is not None:
            await state.oidc.close()
    await close_server(state)
    await plugins.close()


def _refused(answer: httpx.Response, *words: str) -> str:
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    detail = str(answer.json()["detail"])
    for word in words:
        assert word in detail, detail
    return detail


async def test_sign_in_end_to_end_links_an_account_by_verified_email(sso: Sso) -> None:
    account = await sso.state.identity.create_user("Ada@Example.com", PASSWORD)

    async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as browser:
        answer = await browser.get(sso.public_url + "/api/v1/auth/oidc/login")

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    tokens = answer.json()
    assert tokens["token_type"] == "bearer"
    me = await sso.http.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    assert (me.json()["user_id"], me.json()["email"]) == (account.id, "ada@example.com")
    row = await sso.user_row("ada@example.com")
    assert row["oidc_subject"] == f"{sso.provider.issuer}|{sso.provider.user.sub}"
    refreshed = await sso.http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


async def test_a_linked_account_is_found_by_subject_when_the_email_changes(sso: Sso) -> None:
    account = await sso.state.identity.create_user("ada@example.com", PASSWORD)
    assert (await sso.sign_in()).status_code == 200
    sso.provider.user = dataclasses.replace(sso.provider.user, email="ada.lovelace@example.org", email_verified=False)

    answer = await sso.sign_in()

    assert answer.status_code == 200, answer.text
    me = await sso.http.get("/auth/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
    assert me.json()["user_id"] == account.id


async def test_an_unverified_email_is_not_matched(sso: Sso) -> None:
    await sso.state.identity.create_user("ada@example.com", PASSWORD)
    sso.provider.user = dataclasses.replace(sso.provider.user, email_verified=False)

    _refused(await sso.sign_in(), "not vouch", "verified")

    assert (await sso.user_row("ada@example.com"))["oidc_subject"] is None


async def test_an_unknown_person_is_refused_unless_auto_create_is_on(sso: Sso) -> None:
    _refused(await sso.sign_in(), "no account matches", "workspace owner")

    await sso.configure(auto_create=True)
    answer = await sso.sign_in()

    assert answer.status_code == 200, answer.text
    row = await sso.user_row("ada@example.com")
    assert row["password_hash"] is None
    assert row["display_name"] == "Ada Lovelace"
    assert row["oidc_subject"] == f"{sso.provider.issuer}|{sso.provider.user.sub}"
    password = await sso.http.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert password.status_code == 401
    again = await sso.sign_in()
    me = await sso.http.get("/auth/me", headers={"Authorization": f"Bearer {again.json()['access_token']}"})
    assert me.json()["user_id"] == row["id"]


async def test_auto_create_needs_a_verified_email(sso: Sso) -> None:
    await sso.configure(auto_create=True)
    sso.provider.user = dataclasses.replace(sso.provider.user, email_verified=False)

    _refused(await sso.sign_in(), "verified")


async def test_an_account_linked_to_another_subject_is_refused(sso: Sso) -> None:
    await sso.state.identity.create_user("ada@example.com", PASSWORD)
    assert (await sso.sign_in()).status_code == 200
    sso.provider.user = OidcUser(sub="someone-else")

    _refused(await sso.sign_in(), "another identity")


async def test_a_deactivated_account_is_refused(sso: Sso) -> None:
    account = await sso.state.identity.create_user("ada@example.com", PASSWORD)
    deactivate = update(USER).where(USER.c.id == account.id).values(is_active=False)
    await sso.database.write(lambda connection: connection.execute(deactivate))

    _refused(await sso.sign_in(), "deactivated")


async def test_a_replayed_or_forged_state_is_refused(sso: Sso) -> None:
    await sso.state.identity.create_user("ada@example.com", PASSWORD)
    callback = await sso.provider_redirect()
    assert (await sso.http.get(callback)).status_code == 200

    _refused(await sso.http.get(callback), "state", "used already")

    query = parse_qs(urlsplit(await sso.provider_redirect()).query)
    key_id, _, sealed = query["state"][0].partition(".")
    forged = f"{key_id}.{sealed[:-4]}AAAA"
    _refused(await sso.http.get("/auth/oidc/callback", params={"code": query["code"][0], "state": forged}), "state")
    _refused(await sso.http.get("/auth/oidc/callback", params={"code": "x", "state": "not-a-state"}), "state")


async def test_the_providers_refusal_is_reported(sso: Sso) -> None:
    state = parse_qs(urlsplit(await sso.provider_redirect()).query)["state"][0]

    answer = await sso.http.get("/auth/oidc/callback", params={"state": state, "error": "access_denied"})

    assert "access_denied" in _refused(answer, "refused the sign-in")


@pytest.mark.parametrize(
    ("misconfigure", "reason"),
    [
        (lambda provider: setattr(provider, "id_token_nonce", "another-sign-ins-nonce"), "nonce"),
        (lambda provider: setattr(provider, "audience", "another-client"), "aud"),
        (OidcTestProvider.sign_with_unpublished_key, "bad_signature"),
    ],
    ids=["nonce", "audience", "signature"],
)
async def test_an_id_token_that_does_not_check_out_is_refused(sso: Sso, misconfigure: object, reason: str) -> None:
    await sso.state.identity.create_user("ada@example.com", PASSWORD)
    misconfigure(sso.provider)  # type: ignore[operator]

    answer = await sso.http.get(await sso.provider_redirect())

    detail = _refused(answer, "ID token was refused", "SYNTHRAL_OIDC_CLIENT_ID")
    assert reason in detail
    assert (await sso.user_row("ada@example.com"))["oidc_subject"] is None


async def test_a_wrong_client_secret_names_the_variables(sso: Sso) -> None:
    await sso.configure(client_secret="not-the-secret")

    answer = await sso.sign_in()

    assert answer.status_code == 400, answer.text
    assert "SYNTHRAL_OIDC_CLIENT_SECRET" in answer.json()["detail"]
    assert "not-the-secret" not in answer.text


async def test_without_oidc_both_routes_answer_404_problems(sso: Sso) -> None:
    assert sso.state.oidc is not None
    await sso.state.oidc.close()
    sso.state.oidc = None

    for path in ("/auth/oidc/login", "/auth/oidc/callback?state=x&code=y"):
        answer = await sso.http.get(path)
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "SYNTHRAL_OIDC_ISSUER" in answer.json()["detail"]


async def test_the_server_builds_oidc_from_the_environment(
    database: Database, tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHRAL_OIDC_ISSUER", "https://accounts.example.com/")
    monkeypatch.setenv("SYNTHRAL_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SYNTHRAL_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    state, plugins = await make_state(database, tmp_path / "home", wheelhouse)
    try:
        assert state.oidc is not None
        assert state.oidc.settings.issuer == "https://accounts.example.com"
        assert state.oidc.redirect_uri == "http://127.0.0.1:1/api/v1/auth/oidc/callback"
        await state.oidc.close()
    finally:
        await close_server(state)
        await plugins.close()

    monkeypatch.delenv("SYNTHRAL_OIDC_CLIENT_SECRET")
    with pytest.raises(ConfigurationError, match="SYNTHRAL_OIDC_CLIENT_SECRET is not set"):
        await make_state(database, tmp_path / "home", wheelhouse)


# -- settings -------------------------------------------------------------------------------


def oidc_from(environ: dict[str, str]) -> OidcSettings | None:
    """Single sign-on as a process whose environment is ``environ`` configures it."""
    return OidcSettings.configured(Settings.load(environ).server)


FULL = {
    "SYNTHRAL_OIDC_ISSUER": "https://accounts.example.com",
    "SYNTHRAL_OIDC_CLIENT_ID": CLIENT_ID,
    "SYNTHRAL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
}


def test_settings_are_off_without_variables_and_default_sensibly() -> None:
    assert oidc_from({}) is None
    settings = oidc_from(FULL)
    assert settings is not None
    assert settings.scopes == ("openid", "email", "profile")
    assert settings.auto_create is False
    assert CLIENT_SECRET not in repr(settings)
    custom = oidc_from({**FULL, "SYNTHRAL_OIDC_SCOPES": "openid email", "SYNTHRAL_OIDC_AUTO_CREATE": "yes"})
    assert custom is not None
    assert (custom.scopes, custom.auto_create) == (("openid", "email"), True)


@pytest.mark.parametrize("missing", sorted(FULL))
def test_a_partial_configuration_names_the_missing_variable(missing: str) -> None:
    partial = {name: value for name, value in FULL.items() if name != missing}

    with pytest.raises(ConfigurationError, match=f"{missing} is not set"):
        oidc_from(partial)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SYNTHRAL_OIDC_ISSUER", "http://accounts.example.com", "https"),
        ("SYNTHRAL_OIDC_ISSUER", "accounts.example.com", "https"),
        ("SYNTHRAL_OIDC_SCOPES", "email profile", "lacks 'openid'"),
        ("SYNTHRAL_OIDC_AUTO_CREATE", "sometimes", "true or false"),
    ],
)
def test_bad_settings_name_the_variable_and_the_fix(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=variable) as raised:
        oidc_from({**FULL, variable: value})
    assert message in raised.value.message


def test_plain_http_is_allowed_on_loopback_only() -> None:
    settings = oidc_from({**FULL, "SYNTHRAL_OIDC_ISSUER": "http://127.0.0.1:8080"})
    assert settings is not None
    assert settings.issuer == "http://127.0.0.1:8080"


async def test_a_browser_is_sent_on_to_the_web_app_with_the_tokens_in_the_fragment(sso: Sso) -> None:
    await sso.state.identity.create_user("ada@example.com", PASSWORD)
    methods = await sso.http.get("/auth/methods")
    assert methods.status_code == 200 and methods.json() == {"password": True, "oidc": True, "local": False}
    callback = await sso.provider_redirect()
    async with httpx.AsyncClient(timeout=30.0) as browser:
        answer = await browser.get(callback, headers={"Accept": "text/html,application/xhtml+xml"})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/sign-in#") and "?" not in location.split("#")[0]
    tokens = dict(pair.split("=", 1) for pair in location.split("#", 1)[1].split("&"))
    assert answer.headers["cache-control"] == "no-store"
    me = await sso.http.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"
