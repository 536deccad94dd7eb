"""OAuth 2.0 for connectors: the authorization code flow with PKCE, tokens sealed and refreshed.

A connector declares ``auth = AuthSpec(type="oauth2", ...)`` in its plugin; the manifest
reaches the host in the capability catalog (``extra["auth"]``). A workspace owner registers
the OAuth client they created at the provider (:meth:`OAuthService.register_client`); a
user then connects: :meth:`~OAuthService.authorize` gives the provider's authorization URL,
the provider sends the browser back to the callback route, and
:meth:`~OAuthService.callback` exchanges the code for tokens (RFC 6749 §4.1, RFC 7636).
The tokens are kept as the workspace credential named after the connector, sealed like
every secret; :meth:`~OAuthService.access_token` hands out a valid access token, refreshing
it shortly before it expires (RFC 6749 §6).

Only a hash of each ``state`` is stored, the PKCE verifier is sealed, and a state works
once and for ten minutes. See docs/oauth.md.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from synthral.errors import ConfigurationError, Conflict, NotFound, RetryableError
from synthral.security.crypto import NONCE_BYTES, KeyRing, Sealed
from synthral.security.urls import checked_public_url, is_loopback
from synthral.services.secrets import CredentialService, CredentialView
from synthral.store.db import Database
from synthral.store.tables import OAUTH_STATE, new_id, utcnow
from synthral_sdk import AuthSpec

__all__ = [
    "AUTHORIZE_PATH",
    "CALLBACK_PATH",
    "AuthSpecSource",
    "ClientAuthMethod",
    "OAuthService",
    "client_credential_name",
]

log = logging.getLogger("synthral.oauth")


CALLBACK_PATH: Final = "/api/v1/connectors/{connector}/callback"
"""Where the provider sends the browser back, below the server's public URL."""

AUTHORIZE_PATH: Final = "/api/v1/connectors/{connector}/authorize"
"""Where a user starts connecting (POST), below the server's public URL."""

STATE_LIFETIME: Final = timedelta(minutes=10)
REFRESH_MARGIN: Final = timedelta(seconds=60)
STATE_RETENTION: Final = timedelta(days=1)
SLUG: Final = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
TOKENS_KIND: Final = "oauth2"
CLIENT_KIND: Final = "oauth_client"

AuthSpecSource = Callable[[str], Awaitable[AuthSpec | None]]
"""Finds a connector's auth spec by slug; ``None`` when there is no such connector."""

ClientAuthMethod = Literal["client_secret_basic", "client_secret_post"]


def client_credential_name(connector: str) -> str:
    """The credential holding the OAuth client registered for ``connector``."""
    return f"oauth-client.{connector}"


@dataclass(frozen=True)
class _Client:
    """A registered client and the endpoints in force for it."""

    client_id: str
    client_secret: str | None
    authorize_url: str
    token_url: str
    auth_method: ClientAuthMethod


@dataclass(frozen=True)
class _PendingState:
    """A spent state: what the callback needs to finish."""

    workspace_id: str
    user_id: str
    redirect_uri: str
    verifier: Sealed | None


class OAuthService:
    """Connects connectors to workspaces with OAuth 2.0 and keeps their tokens fresh.

    Args:
        database: Where pending authorizations live.
        credentials: Where client registrations and tokens are kept, sealed.
        keyring: Seals the PKCE verifiers of pending authorizations.
        auth_specs: Finds a connector's auth spec by slug (``ConnectorCatalog.auth_spec``).
        public_url: The server's URL as browsers reach it, e.g. ``https://synthral.example.com``.
        http: The client for token requests; one is created (and closed by :meth:`close`) when omitted.
    """

    def __init__(
        self,
        database: Database,
        credentials: CredentialService,
        keyring: KeyRing,
        auth_specs: AuthSpecSource,
        *,
        public_url: str,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.database = database
        self.credentials = credentials
        self.keyring = keyring
        self.auth_specs = auth_specs
        self.public_url = checked_public_url(public_url)
        self._http = http or httpx.AsyncClient(timeout=30.0)
        self._owns_http = http is None
        self._refresh_locks: dict[tuple[str, str], asyncio.Lock] = {}

    def redirect_uri(self, connector: str) -> str:
        """The redirect URI to register at the provider for ``connector``."""
        return self.public_url + CALLBACK_PATH.format(connector=connector)

    async def close(self) -> None:
        """Close the HTTP client if this service created it."""
        if self._owns_http:
            await self._http.aclose()

    # -- set-up --------------------------------------------------------------------------

    async def register_client(
        self,
        workspace_id: str,
        connector: str,
        client_id: str,
        client_secret: str | None,
        *,
        authorize_url: str | None = None,
        token_url: str | None = None,
        auth_method: ClientAuthMethod = "client_secret_basic",
    ) -> None:
        """Record the OAuth client a workspace registered at the provider for ``connector``.

        Args:
            workspace_id: The workspace.
            connector: The connector's slug.
            client_id: The client id the provider issued.
            client_secret: Its secret; ``None`` for a public client (then PKCE is required).
            authorize_url: Overrides the manifest's authorization endpoint (self-hosted providers).
            token_url: Overrides the manifest's token endpoint.
            auth_method: How the client authenticates at the token endpoint (RFC 6749 §2.3.1);
                HTTP Basic unless the provider only accepts the secret in the form body.

        Raises:
            NotFound: No such connector.
            ConfigurationError: The connector does not use OAuth, an endpoint is missing or
                not HTTPS, or a public client is registered for a connector without PKCE.
        """
        spec = await self._oauth_spec(connector)
        if not client_id.strip():
            raise ConfigurationError(
                "client_id is empty; copy the client id from the OAuth app you created at the provider",
                details={"connector": connector, "field": "client_id"},
            )
        if client_secret is not None and not client_secret:
            raise ConfigurationError(
                "client_secret is empty; pass the secret the provider issued, or none at all for a public client",
                details={"connector": connector, "field": "client_secret"},
            )
        if client_secret is None and not spec.pkce:
            raise ConfigurationError(
                f"connector {connector!r} does not use PKCE, so its client must authenticate; "
                "pass the client_secret the provider issued",
                details={"connector": connector, "field": "client_secret"},
            )
        endpoints = {"authorize_url": authorize_url, "token_url": token_url}
        for field, url in endpoints.items():
            if url is not None:
                _check_endpoint(url, field, connector)
        _endpoints(spec, endpoints, connector)  # both must be known by now
        await self.credentials.put(
            workspace_id,
            client_credential_name(connector),
            {"client_id": client_id, "client_secret": client_secret},
            kind=CLIENT_KIND,
            meta={"connector": connector, "auth_method": auth_method, **endpoints},
        )

    # -- the flow ------------------------------------------------------------------------

    async def authorize(self, workspace_id: str, user_id: str, connector: str) -> str:
        """Start connecting: the provider's authorization URL to send the user's browser to.

        Raises:
            NotFound: No such connector.
            ConfigurationError: It does not use OAuth, or no client is registered for it.
        """
        spec = await self._oauth_spec(connector)
        client = await self._client(workspace_id, connector, spec)
        state = secrets.token_urlsafe(32)
        state_hash = _sha256(state)
        redirect_uri = self.redirect_uri(connector)
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        if spec.scopes:
            params["scope"] = " ".join(spec.scopes)
        sealed: Sealed | None = None
        if spec.pkce:
            verifier = secrets.token_urlsafe(64)
            params["code_challenge"] = _b64url(hashlib.sha256(verifier.encode()).digest())
            params["code_challenge_method"] = "S256"
            sealed = self.keyring.seal(verifier.encode(), _verifier_context(state_hash))
        now = utcnow()
        row = {
            "state_hash": state_hash,
            "workspace_id": workspace_id,
            "user_id": user_id,
            "connector": connector,
            "key_id": None if sealed is None else sealed.key_id,
            "code_verifier": None if sealed is None else sealed.nonce + sealed.ciphertext,
            "redirect_uri": redirect_uri,
            "created_at": now,
            "expires_at": now + STATE_LIFETIME,
        }

        def save(connection: Connection) -> None:
            connection.execute(delete(OAUTH_STATE).where(OAUTH_STATE.c.expires_at < now - STATE_RETENTION))
            connection.execute(insert(OAUTH_STATE).values(id=new_id(), **row))

        await self.database.write(save)
        return _with_query(client.authorize_url, params)

    async def callback(
        self,
        connector: str,
        *,
        code: str | None,
        state: str | None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> CredentialView:
        """Finish connecting: check the state, exchange the code, store the tokens.

        The state is spent by the first callback that presents it, whatever the outcome.

        Args:
            connector: The connector in the callback's path.
            code: The ``code`` query parameter.
            state: The ``state`` query parameter.
            error: The ``error`` query parameter, when the provider refused.
            error_description: The ``error_description`` query parameter.

        Returns:
            The stored credential (never its value).

        Raises:
            NotFound: No authorization was started with this state.
            Conflict: The state was used already.
            ConfigurationError: The state expired or belongs to another connector, the
                provider refused, or the token endpoint rejected the code.
            RetryableError: The token endpoint could not be reached or failed.
        """
        if not state:
            raise ConfigurationError(
                "the callback has no 'state' parameter, so it cannot be matched to an authorization; "
                f"start again with POST {AUTHORIZE_PATH.format(connector=connector)}",
                details={"connector": connector, "field": "state"},
            )
        pending = await self._spend_state(connector, state)
        if error:
            fix = "the user declined: start again and approve" if error == "access_denied" else "fix the cause"
            raise ConfigurationError(
                f"the provider refused to authorize connector {connector!r} "
                f"({_provider_error(error, error_description)}); {fix}, then start the authorization again",
                details={"connector": connector, "error": error[:100]},
            )
        if not code:
            raise ConfigurationError(
                "the callback has neither 'code' nor 'error'; the provider did not follow RFC 6749 §4.1.2, "
                "or the URL was altered: start the authorization again",
                details={"connector": connector, "field": "code"},
            )
        spec = await self._oauth_spec(connector)
        client = await self._client(pending.workspace_id, connector, spec)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri}
        if pending.verifier is not None:
            verifier = self.keyring.open(pending.verifier, _verifier_context(_sha256(state)))
            form["code_verifier"] = verifier.decode()
        answer = await self._token_request(client, form, connector, purpose="exchange the authorization code")
        tokens = _tokens_from(answer, spec.scopes, previous=None)
        view = await self._store_tokens(pending.workspace_id, connector, tokens, {"connected_by": pending.user_id})
        log.info("connector %s connected in workspace %s by user %s", connector, pending.workspace_id, pending.user_id)
        return view

    async def access_token(self, workspace_id: str, connector: str) -> str:
        """A valid access token for ``connector`` in the workspace, refreshed when due.

        A token within 60 seconds of its expiry is refreshed first; concurrent callers
        share one refresh.

        Raises:
            NotFound: The connector is not connected in this workspace.
            ConfigurationError: The provider refused the refresh, or no refresh token was
                issued; a user must connect the connector again.
            RetryableError: The token endpoint could not be reached or failed.
        """
        tokens = await self._tokens(workspace_id, connector)
        if _fresh(tokens):
            return str(tokens["access_token"])
        async with self._refreshing(workspace_id, connector):
            tokens = await self._tokens(workspace_id, connector)  # a caller before us may have refreshed
            if _fresh(tokens):
                return str(tokens["access_token"])
            return await self._refresh(workspace_id, connector, tokens, forced=False)

    async def refresh_now(self, workspace_id: str, connector: str) -> CredentialView:
        """Refresh the tokens now, due or not (rotating a connector's credential).

        Returns:
            The stored credential (never its value).

        Raises:
            NotFound: The connector is not connected in this workspace.
            ConfigurationError: The provider refused, or issued no refresh token.
            RetryableError: The token endpoint could not be reached or failed.
        """
        async with self._refreshing(workspace_id, connector):
            tokens = await self._tokens(workspace_id, connector)
            await self._refresh(workspace_id, connector, tokens, forced=True)
        return await self.credentials.view(workspace_id, connector)

    # -- internals -----------------------------------------------------------------------

    @asynccontextmanager
    async def _refreshing(self, workspace_id: str, connector: str) -> AsyncIterator[None]:
        """Held while one token set is refreshed: by one task of this process, and on PostgreSQL of all.

        Providers that rotate refresh tokens refuse the second of two refreshes made with the
        same token, so workers sharing a PostgreSQL database take an advisory lock as well.
        """
        async with self._refresh_locks.setdefault((workspace_id, connector), asyncio.Lock()):
            if not self.database.is_postgres:
                yield
                return
            digest = hashlib.sha256(f"oauth-refresh:{workspace_id}:{connector}".encode()).digest()
            key = int.from_bytes(digest[:8], "big", signed=True)
            async with self.database.engine.connect() as connection, connection.begin():
                await connection.execute(select(func.pg_advisory_xact_lock(key)))
                yield

    async def _oauth_spec(self, connector: str) -> AuthSpec:
        if not SLUG.fullmatch(connector):
            raise ConfigurationError(
                f"{connector[:80]!r} is not a connector name; connector names are lowercase letters, digits "
                "and '_.-', starting with a letter (GET /api/v1/connectors/list lists them)",
                details={"field": "connector"},
            )
        spec = await self.auth_specs(connector)
        if spec is None:
            raise NotFound(
                f"no installed plugin offers a connector named {connector!r}; install the plugin that "
                "provides it (GET /api/v1/connectors/list lists the connectors there are)",
                details={"connector": connector},
            )
        if spec.type != "oauth2":
            raise ConfigurationError(
                f"connector {connector!r} authorises with {spec.type!r}, not OAuth 2.0; store its credential "
                "as a workspace secret instead",
                details={"connector": connector, "auth_type": spec.type},
            )
        return spec

    async def _client(self, workspace_id: str, connector: str, spec: AuthSpec) -> _Client:
        name = client_credential_name(connector)
        try:
            value = await self.credentials.get_value(workspace_id, name)
            view = await self.credentials.view(workspace_id, name)
        except NotFound:
            raise ConfigurationError(
                f"no OAuth client is registered for connector {connector!r} in this workspace; a workspace "
                "owner creates an OAuth app at the provider with the redirect URI "
                f"{self.redirect_uri(connector)} and registers its client id and secret (docs/oauth.md)",
                details={"connector": connector, "redirect_uri": self.redirect_uri(connector)},
            ) from None
        registered = cast(dict[str, Any], value)
        authorize_url, token_url = _endpoints(spec, view.meta, connector)
        return _Client(
            client_id=str(registered["client_id"]),
            client_secret=registered.get("client_secret"),
            authorize_url=authorize_url,
            token_url=token_url,
            auth_method=view.meta.get("auth_method", "client_secret_basic"),
        )

    async def _spend_state(self, connector: str, state: str) -> _PendingState:
        state_hash = _sha256(state)
        now = utcnow()

        def spend(connection: Connection) -> tuple[Any, bool] | None:
            row = connection.execute(select(OAUTH_STATE).where(OAUTH_STATE.c.state_hash == state_hash)).first()
            if row is None:
                return None
            spent = connection.execute(
                update(OAUTH_STATE)
                .where(OAUTH_STATE.c.id == row.id, OAUTH_STATE.c.used_at.is_(None))
                .values(used_at=now)
            )
            return row, spent.rowcount == 1

        found = await self.database.write(spend)
        start_again = f"start again with POST {AUTHORIZE_PATH.format(connector=connector)}"
        if found is None:
            raise NotFound(
                "no authorization is pending for this state (it was never issued here, or expired long ago); "
                + start_again,
                details={"connector": connector},
            )
        row, spent_now = found
        if not spent_now:
            raise Conflict(
                f"this authorization was completed already: a state works once; {start_again}",
                details={"connector": connector},
            )
        if row.connector != connector:
            raise ConfigurationError(
                f"this callback came for connector {connector!r}, but the authorization was started for "
                f"{row.connector!r}; the provider must redirect to {self.redirect_uri(row.connector)}",
                details={"connector": connector, "expected": row.connector},
            )
        if row.expires_at < now:
            raise ConfigurationError(
                f"the authorization expired (a user has {int(STATE_LIFETIME.total_seconds() // 60)} minutes to "
                f"approve at the provider); {start_again}",
                details={"connector": connector},
            )
        verifier = None
        if row.code_verifier is not None:
            blob = bytes(row.code_verifier)
            verifier = Sealed(row.key_id, blob[:NONCE_BYTES], blob[NONCE_BYTES:])
        return _PendingState(row.workspace_id, row.user_id, row.redirect_uri, verifier)

    async def _tokens(self, workspace_id: str, connector: str) -> dict[str, Any]:
        try:
            value = await self.credentials.get_value(workspace_id, connector)
        except NotFound:
            raise NotFound(
                f"connector {connector!r} is not connected in this workspace; "
                f"a user connects it with POST {AUTHORIZE_PATH.format(connector=connector)}",
                details={"connector": connector},
            ) from None
        if not isinstance(value, dict) or not (value.get("access_token") or value.get("needs_reauthorization")):
            raise ConfigurationError(
                f"the credential {connector!r} is not an OAuth token set; delete it and connect the connector again",
                details={"connector": connector},
            )
        if value.get("needs_reauthorization"):
            raise ConfigurationError(
                f"connector {connector!r} must be connected again ({value.get('reason', 'its tokens are void')}); "
                + _connect_hint(connector),
                details={"connector": connector, "needs_reauthorization": True},
            )
        return value

    async def _refresh(self, workspace_id: str, connector: str, tokens: dict[str, Any], *, forced: bool) -> str:
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            expired = tokens.get("expires_at") and datetime.fromisoformat(str(tokens["expires_at"])) <= utcnow()
            if not expired and not forced:
                return str(tokens["access_token"])  # nothing to refresh with; still good for a few seconds
            if expired:
                await self._mark_for_reauthorization(
                    workspace_id, connector, "the token expired and the provider issued no refresh token"
                )
            raise ConfigurationError(
                f"the access token of connector {connector!r} {'expired' if expired else 'cannot be refreshed'}: "
                f"the provider issued no refresh token; {_connect_hint(connector)}",
                details={"connector": connector, "needs_reauthorization": bool(expired)},
            )
        spec = await self._oauth_spec(connector)
        client = await self._client(workspace_id, connector, spec)
        form = {"grant_type": "refresh_token", "refresh_token": str(refresh_token)}
        try:
            answer = await self._token_request(client, form, connector, purpose="refresh the access token")
        except _GrantRefused as refused:
            latest = await self._tokens(workspace_id, connector)
            if latest.get("refresh_token") != refresh_token and _fresh(latest):
                return str(latest["access_token"])  # another process refreshed (and rotated) meanwhile
            await self._mark_for_reauthorization(
                workspace_id, connector, f"the provider refused to refresh the token: {refused.error}"
            )
            log.warning(
                "connector %s in workspace %s needs a new authorization: %s", connector, workspace_id, refused.error
            )
            raise ConfigurationError(
                f"the provider refused to refresh the token of connector {connector!r} ({refused.summary}): "
                f"access was revoked or the grant expired; {_connect_hint(connector)}",
                details={"connector": connector, "error": refused.error, "needs_reauthorization": True},
            ) from None
        renewed = _tokens_from(answer, spec.scopes, previous=tokens)
        view = await self.credentials.view(workspace_id, connector)
        await self._store_tokens(workspace_id, connector, renewed, view.meta)
        log.info("token of connector %s refreshed in workspace %s", connector, workspace_id)
        return str(renewed["access_token"])

    async def _store_tokens(
        self, workspace_id: str, connector: str, tokens: dict[str, Any], meta: Mapping[str, Any]
    ) -> CredentialView:
        shown = {key: value for key, value in meta.items() if key != "needs_reauthorization"}
        scopes = str(tokens.get("scope") or "").split()
        shown.update({"connector": connector, "scopes": scopes, "expires_at": tokens.get("expires_at")})
        return await self.credentials.put(workspace_id, connector, tokens, kind=TOKENS_KIND, meta=shown)

    async def _mark_for_reauthorization(self, workspace_id: str, connector: str, reason: str) -> None:
        view = await self.credentials.view(workspace_id, connector)
        await self.credentials.put(
            workspace_id,
            connector,
            {"needs_reauthorization": True, "reason": reason},
            kind=TOKENS_KIND,
            meta={**view.meta, "needs_reauthorization": True, "expires_at": None},
        )

    async def _token_request(
        self, client: _Client, form: dict[str, str], connector: str, *, purpose: str
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if client.client_secret is not None and client.auth_method == "client_secret_basic":
            pair = f"{_form_encode(client.client_id)}:{_form_encode(client.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form = {**form, "client_id": client.client_id}
            if client.client_secret is not None:
                form["client_secret"] = client.client_secret
        where = f"the token endpoint of connector {connector!r} ({_origin(client.token_url)})"
        try:
            response = await self._http.post(client.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"could not {purpose}: {where} could not be reached ({type(exc).__name__}); "
                "check the token URL and try again",
                details={"connector": connector},
            ) from None
        body = _parse_body(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(
                f"could not {purpose}: {where} answered HTTP {response.status_code}; try again in a moment",
                details={"connector": connector, "status": response.status_code},
            )
        if not 200 <= response.status_code < 300 or "error" in body:
            error = str(body.get("error") or f"http_{response.status_code}")
            summary = _provider_error(error, body.get("error_description"))
            if error == "invalid_grant" and form["grant_type"] == "refresh_token":
                raise _GrantRefused(error, summary)
            if error in {"invalid_client", "unauthorized_client"}:
                raise ConfigurationError(
                    f"could not {purpose}: {where} rejected the client ({summary}); check the client id and "
                    "secret registered for this connector, and whether the provider wants them as HTTP Basic "
                    "(client_secret_basic) or in the form (client_secret_post)",
                    details={"connector": connector, "error": error[:100]},
                )
            raise ConfigurationError(
                f"could not {purpose}: {where} refused ({summary}); authorization codes work once and "
                "expire within minutes, so start the authorization again",
                details={"connector": connector, "error": error[:100]},
            )
        if not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise ConfigurationError(
                f"could not {purpose}: {where} answered without an access_token (RFC 6749 §5.1); "
                "check that the token URL is the provider's token endpoint",
                details={"connector": connector},
            )
        return body


class _GrantRefused(Exception):
    """The token endpoint answered ``invalid_grant`` to a refresh."""

    def __init__(self, error: str, summary: str) -> None:
        super().__init__(summary)
        self.error = error
        self.summary = summary


def _tokens_from(answer: Mapping[str, Any], requested: list[str], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        expires_at: str | None = (utcnow() + timedelta(seconds=float(answer["expires_in"]))).isoformat()
    except (KeyError, TypeError, ValueError, OverflowError):
        expires_at = None  # RFC 6749 §5.1: optional; without it the token is taken not to expire
    earlier = previous or {}
    scope = answer.get("scope") or earlier.get("scope") or " ".join(requested)
    return {
        "access_token": answer["access_token"],
        "refresh_token": answer.get("refresh_token") or earlier.get("refresh_token"),  # RFC 6749 §6: may not rotate
        "token_type": str(answer.get("token_type") or earlier.get("token_type") or "Bearer"),
        "expires_at": expires_at,
        "scope": str(scope),
    }


def _fresh(tokens: Mapping[str, Any]) -> bool:
    expires_at = tokens.get("expires_at")
    if not expires_at:
        return True
    return datetime.fromisoformat(str(expires_at)) - utcnow() > REFRESH_MARGIN


def _endpoints(spec: AuthSpec, overrides: Mapping[str, Any], connector: str) -> tuple[str, str]:
    found = []
    for field in ("authorize_url", "token_url"):
        url = overrides.get(field) or getattr(spec, field)
        if not url:
            raise ConfigurationError(
                f"connector {connector!r} declares no {field} (self-hosted providers differ per installation); "
                f"register the client with {field}=https://your-provider/...",
                details={"connector": connector, "field": field},
            )
        found.append(_check_endpoint(str(url), field, connector))
    return found[0], found[1]


def _check_endpoint(url: str, field: str, connector: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    raise ConfigurationError(
        f"{field} {url[:200]!r} is not an https:// URL; OAuth endpoints must use TLS (plain http is accepted "
        "only on this machine: localhost, 127.0.0.1, ::1)",
        details={"connector": connector, "field": field},
    )


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _parse_body(response: httpx.Response) -> dict[str, Any]:
    content_type = response.headers.get("content-type", "")
    try:
        if "application/x-www-form-urlencoded" in content_type or "text/plain" in content_type:
            return dict(parse_qsl(response.text))
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _provider_error(error: str, description: object) -> str:
    text = error[:100]
    if isinstance(description, str) and description:
        text += f": {description[:200]}"
    return text


def _form_encode(value: str) -> str:
    # RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding.
    return quote(value, safe="").replace("%20", "+")


def _origin(url: str) -> str:
    parts = urlsplit(url)  # never the netloc: it may carry a user and password
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _connect_hint(connector: str) -> str:
    return f"a user connects it again with POST {AUTHORIZE_PATH.format(connector=connector)}"


def _verifier_context(state_hash: str) -> str:
    return f"oauth-state:{state_hash}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
