"""One call's conversation with Infisical through its official SDK, ``infisicalsdk``.

The SDK is synchronous and built on requests. Each call gets its own SDK client with the
call's timeout, logs in as the granted machine identity (reusing an access token while it
is valid) and has what the SDK raises turned into the SynthralOS error tree: a refused
login or permission is not retryable; a network failure, a 429 or a 5xx is.
"""

from __future__ import annotations

import hashlib
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import requests
from requests.adapters import HTTPAdapter

from synthral_sdk.errors import ConfigInvalid, NonRetryableError, RetryableError, SynthralError
from synthral_secrets_infisical.models import InfisicalConfig

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "Infisical", "MachineIdentity", "SecretMissing", "TokenCache", "connect"]

CLIENT_ID: Final = "client_id"
"""The granted secret holding the machine identity's Universal Auth client id."""

CLIENT_SECRET: Final = "client_secret"  # noqa: S105 -- the secret's name, not its value
"""The granted secret holding the machine identity's Universal Auth client secret."""

T = TypeVar("T")

_MASK: Final = "***"
_SAID_LIMIT: Final = 300

# A token is used until this share of its lifetime has passed, so that a request sent
# just before it expires does not arrive just after.
_TOKEN_LIFETIME_USED: Final = 0.9


@dataclass(frozen=True, repr=False)
class MachineIdentity:
    """A Universal Auth client id and client secret, from the call's granted secrets."""

    client_id: str
    client_secret: str

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, str]) -> MachineIdentity:
        """Read the identity from the call's granted secrets.

        Raises:
            ConfigInvalid: The call was granted no client id or no client secret.
        """
        missing = [name for name in (CLIENT_ID, CLIENT_SECRET) if not secrets.get(name)]
        if missing:
            raise ConfigInvalid(
                f"the call was granted no {' and no '.join(repr(name) for name in missing)}; grant the store the "
                f"Universal Auth client id and client secret of an Infisical machine identity as the secrets "
                f"'{CLIENT_ID}' and '{CLIENT_SECRET}'",
                details={"missing": list(missing)},
            )
        return cls(secrets[CLIENT_ID], secrets[CLIENT_SECRET])

    def __repr__(self) -> str:
        return "MachineIdentity(***)"

    def cache_key(self, site: str) -> tuple[str, str, str]:
        """The key of this identity's access token on ``site``; holds a digest, not the secret."""
        return site, self.client_id, hashlib.sha256(self.client_secret.encode()).hexdigest()

    def redact(self, text: str) -> str:
        """Return ``text`` with the client secret and client id replaced by ``***``."""
        for value in (self.client_secret, self.client_id):
            if len(value) >= 4:
                text = text.replace(value, _MASK)
        return text


class TokenCache:
    """Access tokens by site and identity, kept until shortly before they expire.

    Calls run in worker threads, so every access holds a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], tuple[str, float | None]] = {}
        self._logins: dict[tuple[str, str, str], threading.Lock] = {}

    def login_lock(self, key: tuple[str, str, str]) -> threading.Lock:
        """The lock held while logging in as ``key``, so that calls arriving together log in once."""
        with self._lock:
            return self._logins.setdefault(key, threading.Lock())

    def get(self, key: tuple[str, str, str]) -> str | None:
        """The cached token for ``key``, or ``None`` when there is none still valid."""
        with self._lock:
            found = self._tokens.get(key)
            if found is None:
                return None
            token, good_until = found
            if good_until is not None and time.monotonic() >= good_until:
                del self._tokens[key]
                return None
            return token

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        """Keep ``token``; ``expires_in`` seconds, 0 for a token that does not expire."""
        good_until = time.monotonic() + expires_in * _TOKEN_LIFETIME_USED if expires_in > 0 else None
        with self._lock:
            self._tokens[key] = (token, good_until)

    def discard(self, key: tuple[str, str, str], token: str) -> None:
        """Forget ``token`` (Infisical refused it), unless another call has replaced it already."""
        with self._lock:
            if self._tokens.get(key, ("", None))[0] == token:
                del self._tokens[key]


class SecretMissing(Exception):
    """Infisical answered 404: the secret, or its folder, environment or project, is not there.

    Args:
        said: Infisical's message, with the identity's values masked.
    """

    def __init__(self, said: str) -> None:
        super().__init__(said)
        self.said = said


class _TokenRefused(Exception):
    def __init__(self, said: str) -> None:
        super().__init__(said)
        self.said = said


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout; the SDK sends its requests without one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(  # noqa: PLR0917 -- HTTPAdapter.send's own signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request`` with this adapter's timeout when the caller set none."""
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def _new_client(site: str, timeout: float) -> Any:
    """An SDK client for ``site`` whose requests time out and are tried once.

    The SDK retries network errors four times, sleeping up to 8 s in between, in the calling
    thread where a cancelled call cannot stop it. The engine retries failed steps by its own
    policy and records every attempt, so the plain request methods (which ``functools.wraps``
    keeps as ``__wrapped__``) replace the retrying ones on this client.
    """
    # Imported on first use: the SDK loads boto3 for AWS auth, which takes most of a second.
    from infisical_sdk import InfisicalSDKClient  # type: ignore[import-untyped]  # noqa: PLC0415 -- loaded on first use

    client = InfisicalSDKClient(host=site, cache_ttl=0)  # no cache: a store must read what is there now
    api = client.api
    for verb in ("get", "post", "patch", "delete"):
        plain = getattr(getattr(type(api), verb, None), "__wrapped__", None)
        if plain is not None:
            setattr(api, verb, types.MethodType(plain, api))
    adapter = _TimeoutAdapter(timeout)
    api.session.mount("http://", adapter)
    api.session.mount("https://", adapter)
    return client


def _sdk_errors() -> tuple[type[Exception], type[Exception]]:
    """The SDK's ``APIError`` (an HTTP error status) and its base ``InfisicalError``."""
    from infisical_sdk.infisical_requests import (  # type: ignore[import-untyped]  # noqa: PLC0415 -- loaded on first use
        APIError,
        InfisicalError,
    )

    return APIError, InfisicalError


class Infisical:
    """A logged-in SDK client for one call; see :func:`connect`."""

    def __init__(
        self, client: Any, config: InfisicalConfig, identity: MachineIdentity, tokens: TokenCache, timeout: float
    ) -> None:
        self._client = client
        self._config = config
        self._identity = identity
        self._tokens = tokens
        self._timeout = timeout
        self._site = config.site_url
        self._token = ""

    def run(self, action: Callable[[Any], T], what: str) -> T:
        """Run ``action`` on the SDK client, logging in first unless a valid token is cached.

        A cached token that Infisical refuses (it expired early or was revoked) is dropped
        and the action runs once more after a fresh login.

        Args:
            action: Calls the SDK client and returns what it answered.
            what: The action for error messages, e.g. ``"reading secret 'API_KEY' in prod:/"``.

        Raises:
            SecretMissing: Infisical answered 404.
            NonRetryableError: The login, a permission or the request was refused.
            RetryableError: A network failure, a timeout, a 429 or a 5xx.
        """
        key = self._identity.cache_key(self._site)
        token = self._tokens.get(key)
        fresh = token is None
        if token is None:
            with self._tokens.login_lock(key):
                token = self._tokens.get(key) or self._login()
        self._use(token)
        try:
            return self._attempt(action, what)
        except _TokenRefused as refused:
            if fresh:
                raise self._refused_token(refused.said, what) from None
            self._tokens.discard(key, token)
        with self._tokens.login_lock(key):
            self._use(self._tokens.get(key) or self._login())
        try:
            return self._attempt(action, what)
        except _TokenRefused as refused:
            raise self._refused_token(refused.said, what) from None

    def _use(self, token: str) -> None:
        self._token = token
        self._client.set_token(token)

    def _login(self) -> str:
        identity = self._identity
        try:
            answer = self._attempt(
                lambda client: client.auth.universal_auth.login(
                    client_id=identity.client_id, client_secret=identity.client_secret
                ),
                "logging in with Universal Auth",
                refused_hint=self._login_hint,
            )
        except _TokenRefused as refused:
            raise NonRetryableError(
                f"Infisical at {self._site} refused the Universal Auth login (401: {refused.said}); {self._login_hint}",
                details={"site": self._site, "status": 401},
            ) from None
        except SecretMissing as missing:
            raise NonRetryableError(
                f"{self._site} has no Universal Auth login endpoint (404: {missing.said}); check that site_url is "
                "the address of an Infisical instance, e.g. https://app.infisical.com",
                details={"site": self._site, "status": 404},
            ) from None
        token = str(answer.accessToken)
        self._tokens.put(identity.cache_key(self._site), token, float(answer.expiresIn or 0))
        return token

    @property
    def _login_hint(self) -> str:
        return (
            f"check the machine identity's client id and client secret, granted as the secrets '{CLIENT_ID}' and "
            f"'{CLIENT_SECRET}', and that Universal Auth is enabled for the identity"
        )

    def _attempt(self, action: Callable[[Any], T], what: str, *, refused_hint: str | None = None) -> T:
        api_error, sdk_error = _sdk_errors()
        try:
            return action(self._client)
        except api_error as exc:
            status = int(getattr(exc, "status_code", 0))
            response = getattr(exc, "response", None)
            said = self._said(response.get("message") if isinstance(response, dict) else None)
            if status == 401:
                raise _TokenRefused(said) from None
            if status == 404:
                raise SecretMissing(said) from None
            raise self._status_error(status, said, what, refused_hint) from None
        except requests.RequestException as exc:
            raise self._transport_error(exc, what) from None
        except (sdk_error, KeyError, TypeError, ValueError):
            raise NonRetryableError(
                f"{self._site} answered {what} with something that is not Infisical's API; check that site_url "
                "is the address of an Infisical instance, e.g. https://app.infisical.com",
                details={"site": self._site},
            ) from None

    def _said(self, message: object) -> str:
        text = " ".join(str(message).split()) if message else "no message"
        text = self._identity.redact(text)
        if len(self._token) >= 4:
            text = text.replace(self._token, _MASK)
        return text if len(text) <= _SAID_LIMIT else text[: _SAID_LIMIT - 1] + "…"

    def _status_error(self, status: int, said: str, what: str, refused_hint: str | None) -> SynthralError:
        details: dict[str, str | int] = {"site": self._site, "status": status}
        head = f"Infisical at {self._site}"
        if status == 429:
            return RetryableError(
                f"{head} is rate limiting ({said}) while {what}; the call will be retried later", details=details
            )
        if status >= 500:
            return RetryableError(
                f"{head} failed ({status}: {said}) while {what}; the call will be retried", details=details
            )
        if refused_hint is not None:
            return NonRetryableError(f"{head} refused {what} ({status}: {said}); {refused_hint}", details=details)
        if status == 403:
            return NonRetryableError(
                f"{head} denied {what} ({status}: {said}); give the machine identity a role in project "
                f"{self._config.project_id} that allows this in environment '{self._config.environment}'",
                details=details,
            )
        return NonRetryableError(
            f"{head} refused {what} ({status}: {said}); check the store's config (project_id, environment, "
            "secret_path)",
            details=details,
        )

    def _transport_error(self, exc: requests.RequestException, what: str) -> SynthralError:
        details = {"site": self._site, "error": type(exc).__name__}
        if isinstance(exc, requests.Timeout):
            return RetryableError(
                f"Infisical at {self._site} did not answer within {self._timeout:g} s while {what}; the call will "
                "be retried. Raise the config's timeout if the instance is just slow",
                details=details,
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return NonRetryableError(
                f"the TLS connection to Infisical at {self._site} failed while {what} ({type(exc).__name__}); check "
                "site_url and the instance's certificate",
                details=details,
            )
        return RetryableError(
            f"could not reach Infisical at {self._site} while {what} ({type(exc).__name__}); check site_url and "
            "that the instance is up. The call will be retried",
            details=details,
        )

    def _refused_token(self, said: str, what: str) -> NonRetryableError:
        return NonRetryableError(
            f"Infisical at {self._site} refused a fresh access token while {what} (401: {said}); check that the "
            "machine identity's access tokens are not limited to other IP addresses or a number of uses",
            details={"site": self._site, "status": 401},
        )


@contextmanager
def connect(
    config: InfisicalConfig, identity: MachineIdentity, tokens: TokenCache, timeout: float
) -> Iterator[Infisical]:
    """Open an SDK client for one call and close its connections afterwards.

    Args:
        config: The store's config.
        identity: The granted machine identity.
        tokens: Access tokens shared by the calls of this process.
        timeout: Seconds each request may take.
    """
    client = _new_client(config.site_url, timeout)
    try:
        yield Infisical(client, config, identity, tokens, timeout)
    finally:
        client.api.session.close()
        client.close()
