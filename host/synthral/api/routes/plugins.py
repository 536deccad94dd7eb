"""Plugins: install (an uploaded wheel or name==version), list, info, enable/disable, remove — while running.

Removing a version that saved workflows pin is refused (409, naming them) unless forced.

Plugins are shared by every workspace of the server, so changing them needs the owner role.
Uploads are written under a fresh temporary folder by a name checked against the wheel
file-name grammar; no request names a path on the server.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from pydantic import BaseModel, Field

from synthral.api.access import Access, Owner, Viewer
from synthral.api.auditing import audit
from synthral.api.pagination import Page
from synthral.api.state import ServerState, server_of
from synthral.errors import InputInvalid, PluginAlreadyInstalled, PluginNotFound, PluginPinned
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.sigstore_bundles import MAX_BUNDLE
from synthral.services.plugins import (
    Pin,
    capability_to_json,
    describe_pins,
    pins_from_details,
    plugin_to_json,
    split_pin,
)
from synthral_sdk.types import JSONValue

__all__ = ["WHEEL_NAME", "GrantField", "install_source", "router"]

router = APIRouter(prefix="/plugins", tags=["plugins"])
Server = Annotated[ServerState, Depends(server_of)]

WHEEL_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_.]*-[A-Za-z0-9_.!+]+(?:-[0-9][A-Za-z0-9_.]*)?-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl$"
)
"""PEP 427 file names: no separators, no '..' path, nothing but the grammar."""
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}==[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(?:==[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63})?$")


def _public(data: dict[str, Any]) -> dict[str, Any]:
    data.pop("source", None)  # where it was installed from on the server: not the caller's business
    return data


MAX_SIGNATURE = 16 * 1024
_SIGNATURE_FILES: dict[str, tuple[int, str]] = {
    "signature": (MAX_SIGNATURE, ".sig"),
    "sigstore": (MAX_BUNDLE, ".sigstore.json"),
}
"""Signature upload fields: the most bytes each may hold, and the suffix it is saved under beside the wheel."""
GrantField = Annotated[
    list[str] | None,
    Form(
        description="Permissions granted to what the plugin declares, one item per field: 'all', 'network', "
        "'network=api.example.com', 'secrets=api_key', 'paths=/srv/docs:ro'... Without them a plugin that "
        "declares permissions is refused with 'approval_required' listing what it asks for."
    ),
]


async def install_source(
    server: ServerState,
    wheel: UploadFile | None,
    spec: str | None,
    *,
    grant: list[str] | None = None,
    actor: str | None = None,
    signature: UploadFile | None = None,
    sigstore: UploadFile | None = None,
    reinstall: bool = False,
) -> dict[str, Any]:
    """Install from an uploaded wheel or a ``name==version`` pin; return the plugin's description.

    Raises:
        InputInvalid: Neither or both were given, the file name is not a wheel's, or the pin is malformed.
        ApprovalRequired: The plugin declares permissions ``grant`` does not cover; nothing was installed.
        PluginAlreadyInstalled: That version is installed and ``reinstall`` is off; the
            message gives the API's ways on.
    """
    try:
        return await _install(
            server,
            wheel,
            spec,
            grant=grant,
            actor=actor,
            signatures={"signature": signature, "sigstore": sigstore},
            reinstall=reinstall,
        )
    except PluginAlreadyInstalled as exc:
        name, version = exc.details.get("plugin"), exc.details.get("version")
        exc.message = (
            f"plugin {name} {version} is installed already; send the form field reinstall=true with the same "
            f"request to replace it, or remove it first with DELETE /api/v1/plugins/{name}/versions/{version}"
        )
        exc.args = (exc.message,)
        raise


async def _install(
    server: ServerState,
    wheel: UploadFile | None,
    spec: str | None,
    *,
    grant: list[str] | None,
    actor: str | None,
    signatures: dict[str, UploadFile | None],
    reinstall: bool,
) -> dict[str, Any]:
    if grant is not None and (len(grant) > 64 or any(len(item) > 500 for item in grant)):
        raise InputInvalid("field 'grant' holds at most 64 items of at most 500 characters each")
    request = GrantRequest(items=grant)
    for field, upload in signatures.items():
        if upload is not None and wheel is None:
            raise InputInvalid(f"field '{field}' signs an uploaded wheel; send it with field 'wheel'")
    if (wheel is None) == (spec is None):
        raise InputInvalid("send either a wheel file (field 'wheel') or a pin (field 'spec', e.g. 'http==1.0.0')")
    if spec is not None:
        if not PIN.match(spec):
            raise InputInvalid(f"{spec[:120]!r} is not a pin; write NAME==VERSION, e.g. 'http==1.0.0'")
        manifest = await server.app.plugin_service.install(spec, grant=request, actor=actor, reinstall=reinstall)
    else:
        assert wheel is not None
        filename = wheel.filename or ""
        if not WHEEL_NAME.match(filename):
            raise InputInvalid(
                f"{filename[:120]!r} is not a wheel file name (NAME-VERSION-PY-ABI-PLATFORM.whl, no folders)",
                details={"filename": filename[:120]},
            )
        with tempfile.TemporaryDirectory(prefix="synthral-upload-") as folder:
            path = Path(folder) / filename
            with path.open("wb") as handle:
                while chunk := await wheel.read(1024 * 1024):
                    handle.write(chunk)
            for field, upload in signatures.items():
                if upload is None:
                    continue
                limit, suffix = _SIGNATURE_FILES[field]
                data = await upload.read(limit + 1)
                if len(data) > limit:
                    raise InputInvalid(f"field '{field}' holds more than {limit} bytes; it is not a signature")
                path.with_name(path.name + suffix).write_bytes(data)
            manifest = await server.app.plugin_service.install(
                str(path), grant=request, actor=actor, reinstall=reinstall
            )
    infos = [i for i in server.app.plugin_service.info(manifest.name) if i.version == manifest.version]
    return _public(plugin_to_json(infos[0], detailed=True))


@router.post("", status_code=status.HTTP_201_CREATED)
async def install_plugin(
    request: Request,
    access: Owner,
    server: Server,
    wheel: Annotated[UploadFile | None, File(description="A plugin wheel.")] = None,
    spec: Annotated[str | None, Form(max_length=200, description="Or NAME==VERSION from the package index.")] = None,
    grant: GrantField = None,
    signature: Annotated[
        UploadFile | None, File(description="The wheel's detached signature (its .sig), checked against trusted keys.")
    ] = None,
    sigstore: Annotated[
        UploadFile | None,
        File(description="The wheel's Sigstore bundle (its .sigstore.json), checked against trusted identities."),
    ] = None,
    reinstall: Annotated[bool, Form(description="Replace the version if it is installed already.")] = False,
) -> dict[str, Any]:
    """Install a plugin into its own virtualenv, while the server runs, granting what ``grant`` lists."""
    installed = await install_source(
        server,
        wheel,
        spec,
        grant=grant,
        actor=access.principal.email,
        signature=signature,
        sigstore=sigstore,
        reinstall=reinstall,
    )
    await audit(
        request,
        access,
        "plugin.install",
        workspace_id=None,
        target_type="plugin",
        target_id=f"{installed.get('name')}=={installed.get('version')}",
        details={"source": spec or (wheel.filename if wheel else None), "reinstall": reinstall, "grant": grant or []},
    )
    return installed


@router.get("", response_model=Page[dict[str, Any]])
async def list_plugins(access: Viewer, server: Server) -> dict[str, Any]:
    """Every plugin, built-in and installed, in one page."""
    del access
    return {"items": [_public(plugin_to_json(info)) for info in server.app.plugin_service.list_plugins()],
            "next_cursor": None}  # fmt: skip


@router.get("/{name}")
async def plugin_info(name: str, access: Viewer, server: Server) -> dict[str, Any]:
    """Every installed version of one plugin, with its capabilities."""
    del access
    if not NAME.match(name):
        raise PluginNotFound(f"no plugin named {name[:120]!r}")
    infos = server.app.plugin_service.info(name)
    capabilities = [capability_to_json(e) for e in server.app.plugin_service.capabilities(plugin=name)]
    return {
        "name": name,
        "versions": [_public(plugin_to_json(info, detailed=True)) for info in infos],
        "capabilities": capabilities,
        "sandbox": server.app.plugin_service.sandbox(),
    }


@router.post("/{name}/disable")
async def disable_plugin(name: str, access: Owner, server: Server) -> dict[str, list[str]]:
    """Disable a plugin (NAME or NAME==VERSION); running executions keep what they started with."""
    del access
    if not NAME.match(name):
        raise PluginNotFound(f"no plugin named {name[:120]!r}")
    return {"disabled": await server.app.plugin_service.set_enabled(name, False)}


@router.post("/{name}/enable")
async def enable_plugin(name: str, access: Owner, server: Server) -> dict[str, list[str]]:
    """Enable a disabled plugin (NAME or NAME==VERSION)."""
    del access
    if not NAME.match(name):
        raise PluginNotFound(f"no plugin named {name[:120]!r}")
    return {"enabled": await server.app.plugin_service.set_enabled(name, True)}


class Removed(BaseModel):
    """What a removal took away, and the workflows that pinned it (a forced removal breaks their runs)."""

    removed: list[dict[str, str]]
    broken_workflows: list[dict[str, Any]] = Field(
        description="Workflows of your workspace whose latest version (or live runs) pinned a removed version."
    )
    broken_elsewhere: int = Field(description="How many such workflows other workspaces have.")


async def _remove(
    request: Request, server: ServerState, access: Access, name: str, version: str | None, force: bool
) -> Removed:
    spec = name if version is None else f"{name}=={version}"
    again = (
        f"DELETE /api/v1/plugins/{name}/versions/{version}?force=true"
        if version is not None
        else f"DELETE /api/v1/plugins/{name}?all=true&force=true"
    )
    try:
        removal = await server.app.plugin_service.remove(spec, force=force)
    except PluginPinned as exc:
        visible, hidden = _visible(pins_from_details(exc.details), access)
        versions = ", ".join(_versions(exc))
        raise PluginPinned(
            f"plugin {name} {versions} is pinned by saved workflows: {describe_pins(visible, hidden)}; "
            "their runs would fail without it. Save them against another version first, or send "
            f"{again} to remove it anyway (the answer names the workflows that break)",
            details={
                "plugin": name,
                "versions": cast(JSONValue, _versions(exc)),
                "workflows": [_shown(pin) for pin in visible],
                "other_workspaces": hidden,
            },
        ) from None
    for manifest in removal.removed:
        await audit(request, access, "plugin.remove", workspace_id=None, target_type="plugin",
                    target_id=f"{manifest.name}=={manifest.version}", details={"forced": force})  # fmt: skip
    visible, hidden = _visible(removal.broken, access)
    return Removed(
        removed=[{"name": m.name, "version": m.version} for m in removal.removed],
        broken_workflows=[_shown(pin) for pin in visible],
        broken_elsewhere=hidden,
    )


def _versions(error: PluginPinned) -> list[str]:
    versions = error.details.get("versions")
    return [str(v) for v in versions] if isinstance(versions, list) else []


def _shown(pin: Pin) -> dict[str, Any]:
    shown = dict(pin.to_json())
    shown.pop("workspace_id", None)
    return shown


def _visible(pins: list[Pin], access: Access) -> tuple[list[Pin], int]:
    """The pins of the caller's workspace, and how many others there are (their names are not the caller's)."""
    mine = [pin for pin in pins if pin.workspace_id == access.workspace_id]
    return mine, len({pin.workflow_id for pin in pins if pin.workspace_id != access.workspace_id})


@router.delete("/{name}/versions/{version}", response_model=Removed)
async def remove_plugin_version(
    name: str,
    version: str,
    request: Request,
    access: Owner,
    server: Server,
    force: Annotated[bool, Query(description="Remove it even though saved workflows pin it.")] = False,
) -> Removed:
    """Remove one installed version, unless saved workflows pin it (409 naming them; ``?force=true`` overrides)."""
    if not NAME.match(f"{name}=={version}") or "==" in name:
        raise PluginNotFound(f"no plugin named {name[:120]!r} at version {version[:64]!r}")
    return await _remove(request, server, access, name, version, force)


@router.delete("/{name}", response_model=Removed)
async def remove_plugin(
    name: str,
    request: Request,
    access: Owner,
    server: Server,
    force: Annotated[bool, Query(description="Remove even versions saved workflows pin.")] = False,
    every: Annotated[bool, Query(alias="all", description="Remove every installed version.")] = False,
) -> Removed:
    """Remove a plugin's only version (NAME), one version (NAME==VERSION) or, with ``?all=true``, every version."""
    if not NAME.match(name):
        raise PluginNotFound(f"no plugin named {name[:120]!r}")
    plugin, version = split_pin(name)
    if version is None and not every:
        installed = [info.version for info in server.app.plugin_service.info(plugin)]
        if len(installed) > 1:
            raise InputInvalid(
                f"plugin {plugin} has {len(installed)} versions installed ({', '.join(installed)}); remove one with "
                f"DELETE /api/v1/plugins/{plugin}/versions/{{version}}, or every one with "
                f"DELETE /api/v1/plugins/{plugin}?all=true",
                details={"plugin": plugin, "versions": cast(JSONValue, installed)},
            )
    return await _remove(request, server, access, plugin, version, force)
