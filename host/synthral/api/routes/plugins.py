"""Plugins: install (an uploaded wheel or name==version), list, info, enable/disable, remove — while running.

Plugins are shared by every workspace of the server, so changing them needs the owner role.
Uploads are written under a fresh temporary folder by a name checked against the wheel
file-name grammar; no request names a path on the server.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from synthral.api.access import Owner, Viewer
from synthral.api.state import ServerState, server_of
from synthral.errors import InputInvalid, PluginNotFound
from synthral.services.plugins import capability_to_json, plugin_to_json

__all__ = ["WHEEL_NAME", "install_source", "router"]

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


async def install_source(server: ServerState, wheel: UploadFile | None, spec: str | None) -> dict[str, Any]:
    """Install from an uploaded wheel or a ``name==version`` pin; return the plugin's description.

    Raises:
        InputInvalid: Neither or both were given, the file name is not a wheel's, or the pin is malformed.
    """
    if (wheel is None) == (spec is None):
        raise InputInvalid("send either a wheel file (field 'wheel') or a pin (field 'spec', e.g. 'http==1.0.0')")
    if spec is not None:
        if not PIN.match(spec):
            raise InputInvalid(f"{spec[:120]!r} is not a pin; write NAME==VERSION, e.g. 'http==1.0.0'")
        manifest = await server.app.plugin_service.install(spec)
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
            manifest = await server.app.plugin_service.install(str(path))
    infos = [i for i in server.app.plugin_service.info(manifest.name) if i.version == manifest.version]
    return _public(plugin_to_json(infos[0], detailed=True))


@router.post("", status_code=status.HTTP_201_CREATED)
async def install_plugin(
    access: Owner,
    server: Server,
    wheel: Annotated[UploadFile | None, File(description="A plugin wheel.")] = None,
    spec: Annotated[str | None, Form(max_length=200, description="Or NAME==VERSION from the package index.")] = None,
) -> dict[str, Any]:
    """Install a plugin into its own virtualenv, while the server runs."""
    del access
    return await install_source(server, wheel, spec)


@router.get("")
async def list_plugins(access: Viewer, server: Server) -> list[dict[str, Any]]:
    """Every plugin, built-in and installed."""
    del access
    return [_public(plugin_to_json(info)) for info in server.app.plugin_service.list_plugins()]


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


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_plugin(name: str, access: Owner, server: Server) -> Response:
    """Remove a plugin (every version, or NAME==VERSION)."""
    del access
    if not NAME.match(name):
        raise PluginNotFound(f"no plugin named {name[:120]!r}")
    await server.app.plugin_service.remove(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
