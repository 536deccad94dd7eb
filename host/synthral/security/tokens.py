"""Bearer tokens: signed access tokens (JWT), opaque refresh tokens and API keys.

- Access tokens are JWTs signed with HS256 under a key kept outside the database. Decoding
  pins the algorithm (a token claiming ``alg: none`` or any other algorithm is refused),
  requires every claim, checks the issuer and the type, and allows at most 30 seconds of
  clock skew.
- Refresh tokens are random strings; the database keeps only their sha256.
- API keys read ``syn_<prefix>_<secret>``: the 12-character prefix finds the row, the
  sha256 of the whole key is compared in constant time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import jwt
from pydantic import SecretStr

from synthral.errors import AuthenticationFailed, ConfigurationError
from synthral.security.files import PRIVATE_FILE, private_dir

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "API_KEY_MARK",
    "ISSUER",
    "MAX_LEEWAY",
    "MIN_SIGNING_KEY_BYTES",
    "AccessClaims",
    "AccessTokens",
    "NewApiKey",
    "api_key_matches",
    "api_key_prefix",
    "hash_token",
    "is_api_key",
    "load_signing_key",
    "new_api_key",
    "new_opaque_token",
]

ISSUER: Final = "synthral"
ACCESS_TOKEN_TYPE: Final = "access"  # noqa: S105 -- a claim value, not a secret
ALGORITHM: Final = "HS256"
MIN_SIGNING_KEY_BYTES: Final = 32
MAX_LEEWAY: Final = timedelta(seconds=30)
SIGNING_KEY_FILE: Final = "jwt.key"
SIGNING_KEY_FILE_BYTES: Final = 64
REQUIRED_CLAIMS: Final = ("sub", "iat", "exp", "jti", "typ", "iss")

API_KEY_MARK: Final = "syn_"
API_KEY_PREFIX_LENGTH: Final = 12
API_KEY_SECRET_BYTES: Final = 32
_PREFIX_ALPHABET: Final = string.ascii_letters + string.digits
_API_KEY: Final = re.compile(r"syn_([A-Za-z0-9]{12})_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class AccessClaims:
    """What a valid access token says."""

    subject: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


class AccessTokens:
    """Issues and checks access tokens under one signing key.

    Args:
        signing_key: The HMAC key, at least 32 bytes.
        ttl: How long an access token is valid.
        leeway: Clock skew tolerated when checking times, 0 to 30 seconds.

    Raises:
        ConfigurationError: The key is too short or the leeway out of range.
    """

    def __init__(
        self, signing_key: bytes, *, ttl: timedelta = timedelta(minutes=30), leeway: timedelta = timedelta(seconds=10)
    ) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ConfigurationError(
                f"the token signing key is {len(signing_key)} bytes; it needs at least {MIN_SIGNING_KEY_BYTES} "
                "random bytes (set SYNTHRAL_JWT_SECRET to a longer value or let the server create jwt.key)"
            )
        if not timedelta(0) <= leeway <= MAX_LEEWAY:
            raise ConfigurationError(
                f"the token leeway is {leeway.total_seconds():g} s; choose between 0 and {MAX_LEEWAY.seconds} seconds"
            )
        if ttl <= timedelta(0):
            raise ConfigurationError("the access token lifetime must be positive; use for example 30 minutes")
        self._key = signing_key
        self.ttl = ttl
        self.leeway = leeway

    def issue(self, subject: str, *, now: datetime | None = None) -> str:
        """A signed access token for ``subject`` (a user id), valid for the configured lifetime."""
        issued = now or datetime.now(UTC)
        claims = {
            "sub": subject,
            "iat": int(issued.timestamp()),
            "exp": int((issued + self.ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": ACCESS_TOKEN_TYPE,
            "iss": ISSUER,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        """Check ``token`` and return its claims.

        Raises:
            AuthenticationFailed: The token is malformed, forged, expired, of another type or
                issuer, or lacks a claim.
        """
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationFailed("the access token has expired; refresh it or sign in again") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(
                "the access token is not valid (malformed, forged or from another server); sign in again"
            ) from exc
        if claims.get("typ") != ACCESS_TOKEN_TYPE or not isinstance(claims.get("sub"), str):
            raise AuthenticationFailed("the token is not an access token; send the access token of a sign-in")
        return AccessClaims(
            subject=claims["sub"],
            token_id=str(claims["jti"]),
            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )


def new_opaque_token(nbytes: int = 32) -> str:
    """A random URL-safe token carrying ``nbytes`` bytes of randomness."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """The sha256 (hex) of a token, the form in which the database keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    """A freshly made API key: shown to its owner once, then only its hash is kept."""

    prefix: str
    key: str = field(repr=False)
    key_hash: str


def new_api_key() -> NewApiKey:
    """A new key ``syn_<prefix>_<secret>`` with its lookup prefix and hash."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(API_KEY_PREFIX_LENGTH))
    key = f"{API_KEY_MARK}{prefix}_{secrets.token_urlsafe(API_KEY_SECRET_BYTES)}"
    return NewApiKey(prefix=prefix, key=key, key_hash=hash_token(key))


def is_api_key(token: str) -> bool:
    """Whether ``token`` is meant as an API key (it starts with ``syn_``)."""
    return token.startswith(API_KEY_MARK)


def api_key_prefix(key: str) -> str:
    """The lookup prefix of an API key.

    Raises:
        AuthenticationFailed: The key is not of the form ``syn_<12 chars>_<43 chars>``.
    """
    match = _API_KEY.fullmatch(key)
    if match is None:
        raise AuthenticationFailed(
            "the API key is malformed; an API key reads syn_<12 characters>_<43 characters>, copy it whole"
        )
    return match.group(1)


def api_key_matches(key: str, key_hash: str) -> bool:
    """Whether ``key`` hashes to ``key_hash``, compared in constant time."""
    return hmac.compare_digest(hash_token(key), key_hash)


def load_signing_key(home: Path, configured: SecretStr | None = None) -> bytes:
    """The access token signing key: ``SYNTHRAL_JWT_SECRET`` (``configured``), else the file ``<home>/jwt.key``.

    Without the variable, the file is created (mode 0600, 64 random bytes) when missing,
    so a first start needs no setup. Every server of one deployment needs the same key.

    Raises:
        ConfigurationError: The variable or the file holds fewer than 32 bytes.
    """
    if configured is not None:
        key = configured.get_secret_value().encode()
        if len(key) < MIN_SIGNING_KEY_BYTES:
            raise ConfigurationError(
                f"SYNTHRAL_JWT_SECRET is {len(key)} bytes; use at least {MIN_SIGNING_KEY_BYTES} random bytes, "
                "for example `python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or unset it "
                "to use the key file"
            )
        return key
    path = home / SIGNING_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    key = path.read_bytes()
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise ConfigurationError(
            f"{path} holds {len(key)} bytes; a signing key needs at least {MIN_SIGNING_KEY_BYTES}. Delete the "
            "file to have a new one made (access tokens in use stop working) or set SYNTHRAL_JWT_SECRET"
        )
    return key


def _create_key_file(path: Path) -> None:
    # Written under a temporary name, then linked into place: a concurrent reader never sees
    # a half-written key, and of two servers starting together the first link wins.
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(SIGNING_KEY_FILE_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink()
