"""What a plugin declares it needs, and deciding what it is granted when it is installed.

The declaration is the ``synthral-plugin.toml`` in the plugin's top-level package
(:mod:`synthral_sdk.permissions`), read from the wheel before anything is installed and
from the venv for plugins that come from a package index, never by importing the plugin.
The grant an installed version runs with is recorded in its manifest; the sandbox enforces
it (:mod:`synthral.plugins.sandbox`).

How a grant is decided, in order:

1. grant items given with the install (``--grant``, the API's ``grant`` field) must cover
   the declaration;
2. otherwise an earlier installed version's grant that covers the new declaration is kept
   (an upgrade that asks for nothing more needs no new approval);
3. otherwise a plugin that asks for nothing needs no approval;
4. otherwise someone is asked (the CLI's prompt); without anyone to ask the install fails
   with :class:`~synthral.errors.ApprovalRequired`, and an older version stays active.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from synthral.errors import ApprovalRequired, InstallError, PermissionDenied
from synthral.plugins.layout import EntryPointInfo
from synthral.plugins.metadata import site_packages
from synthral.plugins.wheels import WheelInfo
from synthral_sdk.permissions import (
    CREDENTIAL_KINDS,
    PERMISSIONS_FILE,
    Permissions,
    PermissionsInvalid,
    package_of,
    parse_permissions,
)
from synthral_sdk.types import JSONValue

__all__ = [
    "ApproveFn",
    "GrantRequest",
    "check_credential_kinds",
    "check_grant",
    "decide_grant",
    "declared_in_venv",
    "declared_in_wheel",
]

ApproveFn = Callable[[str, str, Permissions], bool | Awaitable[bool]]
"""Asked ``(plugin, version, declared)`` when a plugin needs approval; True grants what it declares."""


@dataclass(frozen=True)
class GrantRequest:
    """What the installing person said about permissions.

    Attributes:
        items: Grant items (``all``, ``network``, ``network=api.example.com``, ``paths=/srv:ro``...);
            ``None`` when none were given.
        approve: Asks a person; ``None`` when nobody can be asked (scripts, the API).
        paths: Folders shared with the plugin whatever else is decided (``/srv/x:ro``): the
            ones an MCP server's command lives in, which the person named when mounting it.
    """

    items: Sequence[str] | None = None
    approve: ApproveFn | None = None
    paths: Sequence[str] = ()


def _parse(text: str | None, where: str) -> Permissions:
    if text is None:
        return Permissions()
    try:
        return parse_permissions(text, source=where)
    except PermissionsInvalid as exc:
        raise InstallError(
            f"{exc}. The plugin's author must fix its {PERMISSIONS_FILE}; see docs/plugin-authoring.md",
            details={"file": PERMISSIONS_FILE},
        ) from None


def declared_in_wheel(info: WheelInfo) -> Permissions:
    """The permissions a wheel's plugin declares.

    Raises:
        InstallError: Its ``synthral-plugin.toml`` is malformed.
    """
    return _parse(info.permissions_text, f"{info.path.name}: {PERMISSIONS_FILE}")


def declared_in_venv(venv: Path, entry_point: EntryPointInfo) -> Permissions:
    """The permissions the plugin installed in ``venv`` declares.

    Raises:
        InstallError: Its ``synthral-plugin.toml`` is malformed.
    """
    path = site_packages(venv) / package_of(entry_point.value) / PERMISSIONS_FILE
    try:
        text: str | None = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = None
    return _parse(text, f"{package_of(entry_point.value)}/{PERMISSIONS_FILE}")


def check_grant(grant: Permissions, home: Path) -> None:
    """Refuse a grant that would share the host's own data with a plugin.

    Raises:
        InstallError: A chosen folder does not exist, is not a folder, or contains (or lies in)
            ``$SYNTHRAL_HOME``, where keys and the database are kept.
    """
    home = home.resolve()
    for shared in grant.paths:
        path = Path(shared.path)
        if not path.is_dir():
            raise InstallError(
                f"the folder {shared.path!r} granted to the plugin does not exist or is not a folder; "
                "create it first or grant another",
                details={"path": shared.path},
            )
        real = path.resolve()
        if real == home or real.is_relative_to(home) or home.is_relative_to(real):
            raise InstallError(
                f"the folder {shared.path!r} holds or lies in the SynthralOS home ({home}), where keys and the "
                "database are kept; grant a folder outside it",
                details={"path": shared.path},
            )


async def decide_grant(
    name: str,
    version: str,
    declared: Permissions,
    request: GrantRequest,
    *,
    previous: Permissions | None,
    default_memory_mb: int,
    default_cpu: float,
) -> Permissions:
    """The grant ``name`` ``version`` is installed with (the module's docstring gives the order).

    Raises:
        ApprovalRequired: It asks for something nobody granted; nothing may be installed.
        InstallError: A grant item is malformed.
    """
    grant = await _decide(
        name,
        version,
        declared,
        request,
        previous=previous,
        default_memory_mb=default_memory_mb,
        default_cpu=default_cpu,
    )
    if request.paths:
        grant = grant.with_items([f"paths={path}" for path in request.paths])
    return grant


async def _decide(
    name: str,
    version: str,
    declared: Permissions,
    request: GrantRequest,
    *,
    previous: Permissions | None,
    default_memory_mb: int,
    default_cpu: float,
) -> Permissions:
    def uncovered(grant: Permissions) -> list[str]:
        return declared.not_covered_by(grant, default_memory_mb=default_memory_mb, default_cpu=default_cpu)

    if request.items is not None:
        try:
            grant = Permissions().with_items(request.items, declared=declared)
        except PermissionsInvalid as exc:
            raise InstallError(str(exc), details={"grant": list(request.items)}) from None
        missing = uncovered(grant)
        if not missing:
            return grant
        raise _approval_required(name, version, declared, missing)
    if previous is not None and not uncovered(previous):
        return previous
    if declared.is_empty():
        return Permissions()
    if request.approve is not None:
        answer = request.approve(name, version, declared)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return Permissions().with_items(["all"], declared=declared)
    raise _approval_required(name, version, declared, uncovered(previous or Permissions()))


def _approval_required(name: str, version: str, declared: Permissions, missing: list[str]) -> ApprovalRequired:
    asks = "; ".join(declared.describe())
    return ApprovalRequired(
        f"{name} {version} asks for permissions that were not granted: it would {asks}. Nothing was installed; "
        f"to install it, grant {', '.join(repr(item) for item in missing)} with the install",
        details={
            "plugin": name,
            "version": version,
            "missing": list[JSONValue](missing),
            "permissions": list[JSONValue](declared.describe()),
            "declared": cast(JSONValue, declared.to_json()),
        },
    )


def permission_kind(kind: str) -> str:
    """The permission a credential of ``kind`` needs: its kind, or ``secret`` for kinds outside the model."""
    return kind if kind in CREDENTIAL_KINDS else "secret"


def check_credential_kinds(label: str, grant: Permissions, kinds: dict[str, str]) -> None:
    """Refuse a call that hands ``label`` a credential of a kind its grant does not name.

    Args:
        label: The plugin and version, for the message.
        grant: What the plugin was granted.
        kinds: The kind of each credential the call hands it, by name: stored ones' own kinds,
            declared ones' for the environment and external stores; a credential with no
            known kind is absent, and then only "some kind granted" is required.

    Raises:
        PermissionDenied: A credential's kind is not granted (the message names it, its kind
            and both fixes).
    """
    if grant.secrets == "any" or not kinds:
        return
    refused = {name: kind for name, kind in sorted(kinds.items()) if permission_kind(kind) not in grant.secrets}
    if not refused:
        return
    name, kind = next(iter(refused.items()))
    allowed = ", ".join(grant.secrets) if grant.secrets else "none"
    raise PermissionDenied(
        f"plugin {label} may receive credentials of kind {allowed}, yet credential {name!r} is of kind "
        f"{permission_kind(kind)!r}; hand it a credential of a granted kind, or grant 'secrets="
        f"{permission_kind(kind)}' if the plugin declares it (its permissions)",
        details={
            "plugin": label,
            "credential": name,
            "kind": permission_kind(kind),
            "granted": list[JSONValue](grant.secrets),
            "refused": cast(JSONValue, refused),
        },
    )
