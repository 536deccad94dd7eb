"""What the identity service hands out: principals, token pairs and account records."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Self

from sqlalchemy.engine import Row

__all__ = ["ApiKey", "Principal", "TokenPair", "User", "Workspace"]


@dataclass(frozen=True)
class Principal:
    """Who a request acts as.

    Attributes:
        user_id: The user's id.
        email: The user's email.
        method: How they proved it: ``"token"`` (access token), ``"api_key"`` or ``"local"``.
        workspace_id: The one workspace an API key (or the local mode) is bound to; None
            means any workspace the user is a member of.
        workflow_id: The one workflow a scoped API key may chat about (an embedded
            copilot); such a key reaches nothing but the chat.
    """

    user_id: str
    email: str
    method: str
    workspace_id: str | None = None
    workflow_id: str | None = None


@dataclass(frozen=True)
class TokenPair:
    """What a sign-in or a refresh hands out."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 -- the OAuth token type, not a secret


class _Record:
    """A row of one table as a typed, immutable value."""

    @classmethod
    def of(cls, values: Row[Any] | dict[str, Any]) -> Self:
        """The record of a row (or of the values inserted), ignoring columns it does not hold."""
        mapping = values if isinstance(values, dict) else values._mapping  # noqa: SLF001 -- SQLAlchemy's row mapping
        names = {item.name for item in fields(cls)}  # type: ignore[arg-type]  # subclasses are dataclasses
        return cls(**{key: value for key, value in mapping.items() if key in names})


@dataclass(frozen=True)
class User(_Record):
    """An account (``user_account``)."""

    id: str
    email: str
    display_name: str
    password_hash: str | None = field(repr=False)
    totp_secret: bytes | None = field(repr=False)
    totp_enabled: bool
    oidc_subject: str | None
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Workspace(_Record):
    """A tenant (``workspace``)."""

    id: str
    slug: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey(_Record):
    """An API key's record (``api_key``); the key itself is shown once, at creation."""

    id: str
    user_id: str
    workspace_id: str
    name: str
    prefix: str
    key_hash: str = field(repr=False)
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    workflow_id: str | None = None
    """Set: the key may only chat about this one workflow (an embedded copilot)."""
