"""Promote a workflow to a team server, or pull one from it, with the same pinned plugin versions.

The server's API key is kept in the operating system's keyring (``keyring``: Keychain,
Credential Manager, Secret Service), under the server's URL, and never written to a file.
Before a workflow is created on the other side, the plugin versions it pins are looked up
there; the missing ones are named, and installed there when asked and the key's role allows.
Each node is sent with its plugin version written in, so the server resolves exactly the
versions the desktop ran.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any
from urllib.parse import urlsplit

import keyring
import keyring.errors

from synthral_desktop.client import ApiClient, ApiError
from synthral_desktop.permissions import Approve, install_approved

__all__ = ["KEYRING_SERVICE", "PluginsMissing", "Transfer", "forget_key", "load_key", "normalize_url", "save_key"]

KEYRING_SERVICE = "synthral-desktop"


class PluginsMissing(Exception):
    """The other side lacks plugin versions the workflow pins."""

    def __init__(self, where: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"{where} does not have {', '.join(missing)}; install them there first "
            "(or let the desktop install them, which needs an owner's API key)"
        )


def normalize_url(url: str) -> str:
    """``https://host[:port]`` of a server URL, checked.

    Raises:
        ValueError: Not an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not a server URL; write it like https://synthral.example.com")
    return f"{parts.scheme}://{parts.netloc}".rstrip("/")


def save_key(url: str, api_key: str) -> None:
    """Keep the API key for the server at ``url`` in the OS keyring.

    Raises:
        ValueError: The URL is malformed or the key is empty.
        keyring.errors.KeyringError: No keyring is available (the message says which backend failed).
    """
    if not api_key.strip():
        raise ValueError("the API key is empty; create one on the server (Settings, API keys) and paste it")
    keyring.set_password(KEYRING_SERVICE, normalize_url(url), api_key.strip())


def load_key(url: str) -> str | None:
    """The API key kept for ``url``, if any."""
    try:
        return keyring.get_password(KEYRING_SERVICE, normalize_url(url))
    except keyring.errors.KeyringError:
        return None


def forget_key(url: str) -> None:
    """Remove the key kept for ``url``."""
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password(KEYRING_SERVICE, normalize_url(url))


def pinned(definition: dict[str, Any], pins: dict[str, str]) -> dict[str, Any]:
    """The definition with each plugin node's ``version`` set to the version it was saved against."""
    copied = copy.deepcopy(definition)
    for node in copied.get("nodes", []):
        plugin = str(node.get("type", "")).split("/", 1)[0]
        if plugin in pins and not node.get("version"):
            node["version"] = pins[plugin]
    return copied


class Transfer:
    """Workflows between the local host and one team server.

    Args:
        local: The local host's client.
        remote: The server's client (with its API key).
        approve: Asked before installing a plugin on the server grants it what it declares
            (the desktop's permission dialog); without it such an install is refused.
    """

    def __init__(self, local: ApiClient, remote: ApiClient, approve: Approve | None = None) -> None:
        self.local = local
        self.remote = remote
        self.approve = approve
        """Asked before a plugin installed on the server is granted what it declares."""

    @staticmethod
    def missing(client: ApiClient, pins: dict[str, str]) -> list[str]:
        """The ``name==version`` pins ``client``'s host has no enabled install of."""
        installed = {(p["name"], p["version"]) for p in client.items("/plugins") if p.get("enabled", True)}
        return [f"{name}=={version}" for name, version in sorted(pins.items()) if (name, version) not in installed]

    def promote(self, workflow: str, *, install_missing: bool = False) -> dict[str, Any]:
        """Create (or update) ``workflow`` on the server; the server's answer (id, version, plugin_versions).

        Raises:
            PluginsMissing: The server lacks pinned versions and ``install_missing`` is False.
            ApiError: The server refused (a role without install rights names it), or cannot be reached.
        """
        detail = self.local.call("GET", f"/workflows/{workflow}")
        pins: dict[str, str] = dict(detail.get("plugin_versions") or {})
        missing = self.missing(self.remote, pins)
        if missing and not install_missing:
            raise PluginsMissing(self.remote.base, missing)
        for spec in missing:
            try:
                installed = install_approved(self.remote, self.approve, spec=spec)
            except ApiError as exc:
                if exc.status == 403:
                    raise ApiError(
                        403,
                        f"the API key's role may not install plugins on {self.remote.base}; ask an owner there to "
                        f"install {', '.join(missing)}, or use an owner's key",
                    ) from None
                raise
            if installed is None:
                raise ApiError(
                    409,
                    f"{spec} was not installed on {self.remote.base}: its permissions were not approved; nothing "
                    "was promoted",
                )
        saved = self._save(self.remote, pinned(detail["workflow"], pins))
        if (saved.get("plugin_versions") or {}) != pins:
            raise ApiError(
                409,
                f"{self.remote.base} saved {detail['name']!r} against {saved.get('plugin_versions')}, not {pins}",
            )
        return saved

    def pull(self, workflow: str) -> dict[str, Any]:
        """Create (or update) the server's ``workflow`` locally; the local answer.

        Raises:
            PluginsMissing: This desktop lacks pinned versions (install them in Plugins first).
            ApiError: The server refused or cannot be reached.
        """
        detail = self.remote.call("GET", f"/workflows/{workflow}")
        pins: dict[str, str] = dict(detail.get("plugin_versions") or {})
        missing = self.missing(self.local, pins)
        if missing:
            raise PluginsMissing("this desktop", missing)
        return self._save(self.local, pinned(detail["workflow"], pins))

    @staticmethod
    def _save(client: ApiClient, definition: dict[str, Any]) -> dict[str, Any]:
        try:
            saved: dict[str, Any] = client.call("POST", "/workflows", json=definition)
        except ApiError as exc:
            if exc.status != 409:
                raise
            saved = client.call("PUT", f"/workflows/{definition['name']}", json=definition)
        return saved
