"""Single sign-on with OpenID Connect: the authorization code flow with PKCE and a nonce.

:meth:`OidcService.begin` gives the provider's authorization URL; the provider sends the
browser back to the callback route, and :meth:`OidcService.complete` exchanges the code (with
the PKCE verifier), checks the ID token against the provider's published keys (signature
RS256, ``iss``, ``aud``, ``exp``, ``nonce``) and signs the person in with this server's own
token pair.

A person is matched by the subject ``<issuer>|<sub>`` first, then by a verified email (the
subject is then stored on the account), and otherwise gets a new account without a password
when ``SYNTHRAL_OIDC_AUTO_CREATE`` is on.

The pending sign-in (nonce, PKCE verifier, expiry) travels in the ``state`` parameter itself,
sealed with the secret key ring, so the callback may reach any server of a deployment that
shares the key. A state works for ten minutes and once per server; the provider spends each
code once, which stops a replay on another server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]  # authlib ships no type information
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]  # as above
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]  # as above
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]  # as above
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from synthral.config import ServerSettings
from synthral.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    DecryptionFailed,
    InputInvalid,
    RetryableError,
    SecretKeyMissing,
)
from synthral.security.crypto import NONCE_BYTES, KeyRing, Sealed
from synthral.security.urls import checked_public_url, is_loopback
from synthral.services.accounts import TokenPair
from synthral.services.identity import LOCAL_EMAIL, IdentityService, normalise_email
from synthral.store.db import Database
from synthral.store.tables import USER

__all__ = ["CALLBACK_PATH", "OidcService", "OidcSettings"]

log = logging.getLogger("synthral.oidc")


CALLBACK_PATH: Final = "/api/v1/auth/oidc/callback"
"""Where the provider sends the browser back, below the server's public URL."""

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
PENDING_SECONDS: Final = 600
CLOCK_LEEWAY_SECONDS: Final = 60
ID_TOKEN_ALGORITHMS: Final = ("RS256",)
DEFAULT_SCOPES: Final = "openid email profile"

_ENV: Final = "SYNTHRAL_OIDC_"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})
_RESTART: Final = "start the sign-in again"


@dataclass(frozen=True)
class OidcSettings:
    """How this server signs people in with an OpenID provider.

    Attributes:
        issuer: The provider's issuer URL, e.g. ``https://accounts.example.com``.
        client_id: The client id the provider issued to this server.
        client_secret: Its secret.
        scopes: The scopes asked for; ``openid`` is always among them.
        auto_create: Give a person the provider vouches for a new account (without a
            password) when no account matches; otherwise only existing accounts sign in.
    """

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = tuple(DEFAULT_SCOPES.split())
    auto_create: bool = False

    @classmethod
    def configured(cls, server: ServerSettings) -> OidcSettings | None:
        """Single sign-on as the ``SYNTHRAL_OIDC_*`` variables configure it; None when it is off.

        ``SYNTHRAL_OIDC_ISSUER``, ``SYNTHRAL_OIDC_CLIENT_ID`` and ``SYNTHRAL_OIDC_CLIENT_SECRET``
        turn it on (all three, or none); ``SYNTHRAL_OIDC_SCOPES`` (default ``openid email
        profile``) and ``SYNTHRAL_OIDC_AUTO_CREATE`` (default no) tune it.

        Raises:
            ConfigurationError: Some of the first three are set but not all, the issuer is not
                an https URL (http only on a loopback address), the scopes lack ``openid``, or
                the auto-create flag is not a yes or no.
        """
        secret = server.oidc_client_secret.get_secret_value() if server.oidc_client_secret is not None else ""
        required = {
            "ISSUER": (server.oidc_issuer or "").strip(),
            "CLIENT_ID": (server.oidc_client_id or "").strip(),
            "CLIENT_SECRET": secret.strip(),
        }
        if not any(required.values()):
            return None
        missing = [_ENV + name for name, value in required.items() if not value]
        if missing:
            raise ConfigurationError(
                f"single sign-on is configured only in part: {', '.join(missing)} is not set; set it too, "
                f"or unset every {_ENV}* variable to turn single sign-on off",
                details={"missing": ", ".join(missing)},
            )
        scopes = tuple(server.oidc_scopes.split())
        if "openid" not in scopes:
            raise ConfigurationError(
                f"{_ENV}SCOPES {' '.join(scopes)!r} lacks 'openid'; add it (e.g. {DEFAULT_SCOPES!r})",
                details={"variable": _ENV + "SCOPES"},
            )
        return cls(
            issuer=_checked_issuer(required["ISSUER"]),
            client_id=required["CLIENT_ID"],
            client_secret=required["CLIENT_SECRET"],
            scopes=scopes,
            auto_create=_flag(server.oidc_auto_create, _ENV + "AUTO_CREATE"),
        )


@dataclass(frozen=True)
class _Provider:
    """What the provider's discovery document says (OpenID Connect Discovery 1.0 §3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    secret_in_form: bool


@dataclass(frozen=True)
class _Pending:
    """A sign-in begun and not yet completed, as sealed in its state."""

    nonce: str
    verifier: str = field(repr=False)
    expires: int


@dataclass(frozen=True)
class _Person:
    """Who the ID token says signed in."""

    subject: str
    email: str | None
    email_verified: bool
    name: str


class OidcService:
    """Signs people in with an OpenID provider.

    Args:
        identity: Issues this server's tokens to the person once they are matched to an account.
        database: Holds the accounts.
        keyring: Seals pending sign-ins into their state.
        settings: The provider and the client registered there.
        public_url: The server's URL as browsers reach it; the redirect URI is below it.
        http: The client for the provider's endpoints; one is created (and closed by
            :meth:`close`) when omitted.

    Raises:
        ConfigurationError: ``public_url`` is not an http(s) base URL.
    """

    def __init__(
        self,
        identity: IdentityService,
        database: Database,
        keyring: KeyRing,
        settings: OidcSettings,
        *,
        public_url: str,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.identity = identity
        self.database = database
        self.settings = settings
        self.redirect_uri = checked_public_url(public_url) + CALLBACK_PATH
        self._keyring = keyring
        self._context = f"oidc-login:{settings.issuer}|{settings.client_id}"
        self._http = http or httpx.AsyncClient(timeout=30.0)
        self._owns_http = http is None
        self._provider: _Provider | None = None
        self._keys: KeySet | None = None
        self._discovery = asyncio.Lock()
        self._spent: dict[str, int] = {}

    async def close(self) -> None:
        """Close the HTTP client if this service created it."""
        if self._owns_http:
            await self._http.aclose()

    async def begin(self) -> str:
        """Start a sign-in: the provider's authorization URL to send the browser to.

        Raises:
            ConfigurationError: The provider's discovery document is missing or does not
                match ``SYNTHRAL_OIDC_ISSUER``.
            RetryableError: The provider could not be reached.
        """
        provider = await self._discover()
        pending = _Pending(generate_token(32), generate_token(64), int(time.time()) + PENDING_SECONDS)
        url: str = prepare_grant_uri(
            provider.authorization_endpoint,
            self.settings.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=" ".join(self.settings.scopes),
            state=self._seal(pending),
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier),
            code_challenge_method="S256",
        )
        return url

    async def complete(self, *, code: str | None, state: str, error: str | None = None) -> TokenPair:
        """Finish a sign-in the provider sent back; returns this server's token pair.

        Args:
            code: The authorization code from the callback's query.
            state: The state from the callback's query; it works once.
            error: The provider's ``error`` from the callback's query, if it refused.

        Raises:
            AuthenticationFailed: The state is unknown, expired or used; the provider refused;
                the ID token is not valid; or no account matches the person (and auto-create
                is off), or the matching account is deactivated.
            ConfigurationError: The provider rejected this server's client credentials or
                answered without an ID token.
            RetryableError: The provider could not be reached.
        """
        pending = self._spend(state)
        if error is not None:
            raise AuthenticationFailed(
                f"the identity provider refused the sign-in ({error[:100]!r}); {_RESTART}, or ask the provider's "
                "administrator whether you may use this application",
                details={"error": error[:100]},
            )
        if not code:
            raise AuthenticationFailed(f"the identity provider sent no authorization code; {_RESTART}")
        provider = await self._discover()
        answer = await self._exchange(provider, code, pending.verifier)
        person = await self._verify(provider, answer, pending.nonce)
        user_id = await self._account_of(person)
        log.info("user %s signed in through single sign-on", user_id)
        return await self.identity.issue_tokens(user_id)

    # -- the provider ----------------------------------------------------------------------

    async def _discover(self) -> _Provider:
        async with self._discovery:
            if self._provider is None:
                url = self.settings.issuer + DISCOVERY_PATH
                self._provider = _provider_from(await self._get_json(url, "discovery document"), self.settings.issuer)
            return self._provider

    async def _key_set(self, provider: _Provider, *, fresh: bool = False) -> KeySet:
        if self._keys is None or fresh:
            document = await self._get_json(provider.jwks_uri, "key set")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise ConfigurationError(
                    f"the identity provider's key set at {provider.jwks_uri} is not a JWK set ({type(exc).__name__}); "
                    "check SYNTHRAL_OIDC_ISSUER",
                ) from None
        return self._keys

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"the identity provider's {what} at {url} could not be reached ({type(exc).__name__}); "
                "check SYNTHRAL_OIDC_ISSUER and try again",
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(
                f"the identity provider's {what} at {url} answered HTTP {response.status_code}; try again in a moment"
            )
        try:
            body = response.json() if response.status_code == 200 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConfigurationError(
                f"the identity provider's {what} at {url} answered HTTP {response.status_code} without a JSON "
                "object; check that SYNTHRAL_OIDC_ISSUER is the provider's issuer URL",
                details={"variable": _ENV + "ISSUER"},
            )
        return body

    async def _exchange(self, provider: _Provider, code: str, verifier: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        client_id, secret = self.settings.client_id, self.settings.client_secret
        if provider.secret_in_form:
            form |= {"client_id": client_id, "client_secret": secret}
        else:  # RFC 6749 §2.3.1: both are form-encoded before they are joined
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            response = await self._http.post(provider.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"the identity provider's token endpoint could not be reached ({type(exc).__name__}); {_RESTART}"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(
                f"the identity provider's token endpoint answered HTTP {response.status_code}; {_RESTART} in a moment"
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200 or "error" in body:
            error = str(body.get("error") or f"http_{response.status_code}")[:100]
            if error in {"invalid_client", "unauthorized_client"}:
                raise ConfigurationError(
                    f"the identity provider rejected this server's client ({error}); check "
                    f"{_ENV}CLIENT_ID and {_ENV}CLIENT_SECRET, and that {self.redirect_uri} is a registered "
                    "redirect URI",
                    details={"error": error},
                )
            raise AuthenticationFailed(
                f"the identity provider refused the authorization code ({error}); codes work once and expire "
                f"within minutes: {_RESTART}",
                details={"error": error},
            )
        if not isinstance(body.get("id_token"), str):
            raise ConfigurationError(
                f"the identity provider answered without an id_token; check that {_ENV}ISSUER is an OpenID "
                f"provider and that {_ENV}SCOPES includes 'openid'",
            )
        return body

    async def _verify(self, provider: _Provider, answer: dict[str, Any], nonce: str) -> _Person:
        id_token: str = answer["id_token"]
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(provider), algorithms=ID_TOKEN_ALGORITHMS)
            except InvalidKeyIdError:  # the provider may have rotated its keys since they were fetched
                token = jwt.decode(id_token, await self._key_set(provider, fresh=True), algorithms=ID_TOKEN_ALGORITHMS)
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": provider.issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                    "sub": {"essential": True},
                },
                {"nonce": nonce, "client_id": self.settings.client_id, "access_token": answer.get("access_token")},
            )
            claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
        except JoseError as exc:
            raise AuthenticationFailed(
                f"the identity provider's ID token was refused ({exc.error}: {exc.description}); check that "
                f"{_ENV}ISSUER and {_ENV}CLIENT_ID match the provider's settings and that this server's clock "
                f"is right, then {_RESTART}",
                details={"reason": exc.error},
            ) from None
        email, name = claims.get("email"), claims.get("name")
        return _Person(
            subject=f"{provider.issuer}|{claims['sub']}",
            email=email if isinstance(email, str) else None,
            email_verified=claims.get("email_verified") in {True, "true"},
            name=name if isinstance(name, str) else "",
        )

    # -- accounts --------------------------------------------------------------------------

    async def _account_of(self, person: _Person) -> str:
        email = _usable_email(person.email) if person.email_verified else None
        outcome, user_id = await self.database.write(lambda connection: _link(connection, person.subject, email))
        if outcome == "unknown" and self.settings.auto_create and email is not None:
            with contextlib.suppress(Conflict):  # a concurrent sign-in made it meanwhile: linked below all the same
                await self.identity.create_user(email, None, display_name=person.name[:200])
            outcome, user_id = await self.database.write(lambda connection: _link(connection, person.subject, email))
        if outcome == "unknown" and person.email is not None and not person.email_verified:
            outcome = "unverified"
        if outcome != "ok":
            raise AuthenticationFailed(_REFUSALS[outcome], details={"reason": outcome})
        return user_id

    # -- the state -------------------------------------------------------------------------

    def _seal(self, pending: _Pending) -> str:
        payload = {"nonce": pending.nonce, "verifier": pending.verifier, "expires": pending.expires}
        sealed = self._keyring.seal(json.dumps(payload).encode(), self._context)
        packed = base64.urlsafe_b64encode(sealed.nonce + sealed.ciphertext).decode().rstrip("=")
        return f"{sealed.key_id}.{packed}"

    def _spend(self, state: str) -> _Pending:
        now = int(time.time())
        self._spent = {digest: expires for digest, expires in self._spent.items() if expires >= now}
        pending = self._open(state)
        digest = hashlib.sha256(state.encode()).hexdigest()
        if pending is None or pending.expires < now or digest in self._spent:
            raise AuthenticationFailed(
                f"the sign-in state is unknown, expired or used already; {_RESTART} (it works once, for "
                f"{PENDING_SECONDS // 60} minutes)",
                details={"reason": "state"},
            )
        self._spent[digest] = pending.expires
        return pending

    def _open(self, state: str) -> _Pending | None:
        key_id, _, packed = state.partition(".")
        try:
            raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
            if len(raw) <= NONCE_BYTES:
                return None
            opened = self._keyring.open(Sealed(key_id, raw[:NONCE_BYTES], raw[NONCE_BYTES:]), self._context)
            payload = json.loads(opened)
            return _Pending(str(payload["nonce"]), str(payload["verifier"]), int(payload["expires"]))
        except (ValueError, KeyError, TypeError, DecryptionFailed, SecretKeyMissing):
            return None


_REFUSALS: Final = {
    "unknown": "no account matches this sign-in: the identity provider gave no verified email of an existing "
    "account; ask a workspace owner to create your account with the email the provider knows you by",
    "unverified": "the identity provider does not vouch that your email is verified, so it cannot be matched "
    "to an account; verify the email at the provider, then start the sign-in again",
    "inactive": "the account is deactivated; ask a workspace owner",
    "linked_elsewhere": "the account with this email signs in through another identity at the provider; "
    "sign in with that one, or ask an administrator to unlink it",
}


def _link(connection: Connection, subject: str, email: str | None) -> tuple[str, str]:
    """Find the account of ``subject``, else link the one with the verified ``email`` to it."""
    row = connection.execute(select(USER.c.id, USER.c.is_active).where(USER.c.oidc_subject == subject)).first()
    if row is not None:
        return ("ok" if row.is_active else "inactive"), str(row.id)
    if email is None:
        return "unknown", ""
    found = connection.execute(
        select(USER.c.id, USER.c.is_active, USER.c.oidc_subject).where(USER.c.email == email)
    ).first()
    if found is None:
        return "unknown", ""
    if found.oidc_subject is not None:
        return "linked_elsewhere", ""
    if not found.is_active:
        return "inactive", ""
    linked = connection.execute(
        update(USER).where(USER.c.id == found.id, USER.c.oidc_subject.is_(None)).values(oidc_subject=subject)
    )
    return ("ok" if linked.rowcount == 1 else "linked_elsewhere"), str(found.id)


def _usable_email(email: str | None) -> str | None:
    if email is None:
        return None
    try:
        address = normalise_email(email)
    except InputInvalid:
        return None
    return None if address == LOCAL_EMAIL else address


def _provider_from(document: Mapping[str, Any], issuer: str) -> _Provider:
    fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [name for name in fields if not isinstance(document.get(name), str) or not document[name]]
    if missing:
        raise ConfigurationError(
            f"the identity provider's discovery document lacks {', '.join(missing)}; check that "
            f"{_ENV}ISSUER is the provider's issuer URL",
            details={"missing": ", ".join(missing)},
        )
    if document["issuer"].rstrip("/") != issuer:
        raise ConfigurationError(
            f"the identity provider's discovery document names the issuer {document['issuer'][:200]!r}, not "
            f"{issuer!r}; set {_ENV}ISSUER to the issuer the provider names",
            details={"variable": _ENV + "ISSUER"},
        )
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return _Provider(
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        secret_in_form="client_secret_basic" not in methods and "client_secret_post" in methods,
    )


def _checked_issuer(issuer: str) -> str:
    parts = urlsplit(issuer)
    loopback = parts.hostname is not None and is_loopback(parts.hostname)
    if (
        parts.query
        or parts.fragment
        or not parts.hostname
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    ):
        raise ConfigurationError(
            f"{_ENV}ISSUER {issuer[:200]!r} is not an issuer URL; give the provider's https URL without query, "
            "e.g. https://accounts.example.com (plain http only on a loopback address)",
            details={"variable": _ENV + "ISSUER"},
        )
    return issuer.rstrip("/")


def _flag(value: str, variable: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(
        f"{variable} {value[:50]!r} is not a yes or no; set it to true or false", details={"variable": variable}
    )
