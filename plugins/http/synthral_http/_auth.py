"""Attaching the granted credential to requests, and keeping it out of everything else."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote_plus, unquote_plus

import httpx

from synthral_http.models import AuthConfig
from synthral_sdk.errors import ConfigInvalid

__all__ = ["CREDENTIAL_NAME", "Credential", "Redactor", "may_carry_credential", "safe_url", "with_param"]

CREDENTIAL_NAME: Final = "credential"
"""The name of the secret the node may be granted."""

MASK: Final = "***"

# Shorter secrets are not masked in free text: replacing every "ab" would garble messages
# and hide nothing worth hiding. The SDK's runner applies the same rule.
_MIN_MASKED_LENGTH: Final = 4


@dataclass(frozen=True)
class Credential:
    """The configured auth scheme together with the granted secret value."""

    auth: AuthConfig
    value: str

    @classmethod
    def from_context(cls, auth: AuthConfig | None, secrets: Mapping[str, str]) -> Credential | None:
        """Pair the config's ``auth`` with the granted secret.

        Returns:
            ``None`` when no auth is configured.

        Raises:
            ConfigInvalid: Auth is configured but no credential was granted, or a basic
                credential without a configured user name is not ``username:password``.
        """
        if auth is None:
            return None
        value = secrets.get(CREDENTIAL_NAME)
        if not value:
            raise ConfigInvalid(
                f"the config sets auth type '{auth.type}' but the call was granted no credential; grant the node "
                f"a credential (the secret '{CREDENTIAL_NAME}') or remove 'auth' from the config",
                details={"secret": CREDENTIAL_NAME, "auth": auth.type},
            )
        if auth.type == "basic" and auth.username is None and ":" not in value:
            raise ConfigInvalid(
                "auth type 'basic' has no 'username' in the config, so the credential must have the form "
                "'username:password', and it does not; set auth.username or store the credential in that form",
                details={"secret": CREDENTIAL_NAME, "auth": auth.type},
            )
        return cls(auth, value)

    @property
    def _basic_token(self) -> str:
        pair = self.value if self.auth.username is None else f"{self.auth.username}:{self.value}"
        return base64.b64encode(pair.encode()).decode("ascii")

    @property
    def header_name(self) -> str | None:
        """The header that carries the credential, or ``None`` for query auth."""
        if self.auth.type in ("bearer", "basic"):
            return "Authorization"
        return self.auth.name if self.auth.type == "header" else None

    def secret_forms(self) -> tuple[str, ...]:
        """Every form in which the credential may show up in text: raw, and base64 for basic."""
        forms = [self.value]
        if self.auth.type == "basic":
            forms.append(self._basic_token)
        return tuple(forms)

    def apply(self, request: httpx.Request) -> None:
        """Attach the credential to ``request``, replacing any header or parameter of the same name."""
        match self.auth.type:
            case "bearer":
                request.headers["Authorization"] = f"Bearer {self.value}"
            case "basic":
                request.headers["Authorization"] = f"Basic {self._basic_token}"
            case "header":
                request.headers[str(self.auth.name)] = self.value
            case "query":
                request.url = with_param(request.url, str(self.auth.name), quote_plus(self.value))

    def remove(self, request: httpx.Request) -> None:
        """Take the credential off ``request`` (before it goes to another origin)."""
        header = self.header_name
        if header is not None:
            request.headers.pop(header, None)
        elif self.auth.name is not None:
            request.url = with_param(request.url, self.auth.name, None)

    def mask_url(self, url: httpx.URL) -> httpx.URL:
        """Return ``url`` with the credential's query parameter masked, for outputs."""
        name = self.auth.name
        if self.auth.type == "query" and name is not None and name in url.params:
            return with_param(url, name, MASK)
        return url


def with_param(url: httpx.URL, name: str, encoded_value: str | None) -> httpx.URL:
    """Set (or, with ``None``, remove) one query parameter, leaving the others' bytes alone.

    httpx's own ``copy_set_param`` re-encodes the whole query string, which breaks signed
    URLs whose signature covers the exact encoding. The parameter keeps its place when
    present and is appended otherwise.

    Args:
        url: The URL to change.
        name: The parameter's decoded name.
        encoded_value: The new value, already percent-encoded; ``None`` removes it.
    """
    pair = None if encoded_value is None else f"{quote_plus(name)}={encoded_value}"
    parts: list[str] = []
    for part in url.query.decode("ascii").split("&"):
        if not part:
            continue
        if unquote_plus(part.split("=", 1)[0]) != name:
            parts.append(part)
        elif pair is not None:
            parts.append(pair)
            pair = None  # later duplicates are dropped
    if pair is not None:
        parts.append(pair)
    return url.copy_with(query="&".join(parts).encode("ascii") or None)


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def may_carry_credential(origin: httpx.URL, target: httpx.URL) -> bool:
    """Whether a redirect from ``origin`` to ``target`` may keep the credential.

    Only the same origin qualifies, plus the plain upgrade of the same host from http on
    port 80 to https on port 443 (the rule httpx applies to ``Authorization``). Any other
    host must never see a credential meant for the first one.
    """
    if origin.scheme == target.scheme and origin.host == target.host and _port(origin) == _port(target):
        return True
    return (
        origin.host == target.host
        and origin.scheme == "http"
        and _port(origin) == 80
        and target.scheme == "https"
        and _port(target) == 443
    )


def safe_url(url: httpx.URL) -> str:
    """Return ``url`` for logs and error messages: no user info, no query, no fragment.

    Query strings often carry API keys and signatures, so they are never shown.
    """
    return str(url.copy_with(query=None, fragment=None, username=None, password=None))


class Redactor:
    """Masks a call's secret values in text bound for errors and logs."""

    def __init__(self, credential: Credential | None) -> None:
        forms = credential.secret_forms() if credential is not None else ()
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted((s for s in forms if len(s) >= _MIN_MASKED_LENGTH), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret value replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text
