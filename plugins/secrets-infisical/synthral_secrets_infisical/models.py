"""The store's config, and the checks on the names and scopes a call may use.

The config's JSON Schema is what the catalog shows, so every field carries a description.
The machine identity's client id and client secret are never part of it: they arrive as
the call's granted secrets.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synthral_sdk.errors import InputInvalid

__all__ = ["DEFAULT_SCOPE", "InfisicalConfig", "checked_name", "folder_for"]

DEFAULT_SCOPE: Final = "default"
"""The scope a call names when it means no workspace in particular."""

# What a secret key and a scope folder may consist of. The SDK puts the key into the URL
# path unquoted, so anything else could address another endpoint.
_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_SCOPE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InfisicalConfig(BaseModel):
    """Which Infisical, project, environment and folder the store reads and writes."""

    model_config = ConfigDict(extra="forbid")

    site_url: str = Field(
        default="https://app.infisical.com",
        description="The Infisical instance: https://app.infisical.com, https://eu.infisical.com or your own.",
    )
    project_id: str = Field(min_length=1, description="The project's id (Project Settings → Project ID).")
    environment: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="The environment's slug: dev, staging, prod…")
    secret_path: str = Field(default="/", description="The folder the secrets live in, e.g. / or /synthral.")
    folder_per_scope: bool = Field(
        default=False,
        description="Keep each scope (the host passes the workspace id) in its own sub-folder of secret_path. "
        "When false, every scope shares secret_path.",
    )
    timeout: float = Field(default=30.0, gt=0, le=300, description="Seconds one request to Infisical may take.")

    @field_validator("site_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http:// or https:// URL; set the Infisical instance's address, "
                "e.g. https://app.infisical.com"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{value!r} carries a query, fragment or user name; give the bare address")
        return value.strip().rstrip("/")

    @field_validator("secret_path")
    @classmethod
    def _folder_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} does not start with '/'; write an absolute folder path such as /synthral")
        segments = [part for part in value.split("/") if part]
        if any(part in (".", "..") for part in segments):
            raise ValueError(f"{value!r} contains '.' or '..'; write the folder path without them")
        return "/" + "/".join(segments)


def checked_name(name: str) -> str:
    """Return ``name`` if Infisical can take it as a secret key.

    Raises:
        InputInvalid: It is empty, too long, or has characters other than letters,
            digits, ``_``, ``-`` and ``.``.
    """
    if not _NAME.fullmatch(name):
        raise InputInvalid(
            f"secret name {name!r} cannot be an Infisical key; use 1 to 256 letters, digits, '_', '-' or '.'",
            details={"field": "name"},
        )
    return name


def folder_for(config: InfisicalConfig, scope: str) -> str:
    """The folder a call's secret lives in: ``secret_path``, or its sub-folder named after the scope.

    Raises:
        InputInvalid: ``folder_per_scope`` is on and the scope cannot be a folder name.
    """
    if not config.folder_per_scope or scope == DEFAULT_SCOPE:
        return config.secret_path
    if not _SCOPE.fullmatch(scope):
        raise InputInvalid(
            f"scope {scope!r} cannot name a folder (folder_per_scope is on); use 1 to 64 letters, digits, '_' or '-'",
            details={"field": "scope"},
        )
    return f"{config.secret_path.rstrip('/')}/{scope}"
