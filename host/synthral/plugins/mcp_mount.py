"""Mounting an MCP server as a pinned plugin: ``synthral plugin install mcp:NAME ...``.

A mount becomes an ordinary plugin distribution, generated here and installed by the
installer into its own venv: ``synthral-mcp-NAME``, entry point ``mcp-NAME``, holding the
bridge (:mod:`synthral.plugins.mcp_bridge`) and a ``mount.json`` that says how to reach the
server. What is pinned, like a wheel's version:

* a PyPI package (``--package mcp-server-time==2025.1.1``): its exact version, in the
  plugin's hash-locked requirements, and the plugin's version is the package's;
* a command or URL: the version the server reports at mount time; a server reporting
  another version later is refused at start until it is mounted again.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from synthral.errors import InstallError
from synthral.plugins.installer import ProgressFn
from synthral.plugins.layout import Manifest
from synthral.plugins.mcp_bridge import tools_digest
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.uv import run_uv

__all__ = ["McpMount", "mount_mcp_server", "parse_mount"]

PREFIX: Final = "mcp:"
_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
PROBE_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class McpMount:
    """What to mount: exactly one of a command, a URL or a package."""

    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    package: str | None = None

    @property
    def plugin(self) -> str:
        """The plugin's name: ``mcp-<name>``."""
        return f"mcp-{self.name}"


def parse_mount(source: str, *, command: list[str], url: str | None, package: str | None) -> McpMount:
    """Check a mount request.

    Raises:
        InstallError: The name or the way to reach the server is wrong; the message says how to fix it.
    """
    name = source.removeprefix(PREFIX)
    if not _NAME.fullmatch(name):
        raise InstallError(
            f"MCP mount name {name!r} must be lowercase letters, digits and '-', starting with a letter (e.g. mcp:time)"
        )
    given = [bool(command), url is not None, package is not None]
    if sum(given) != 1 and not (package and command):
        raise InstallError(
            "say how to reach the MCP server, one way: a command after '--' (synthral plugin install mcp:NAME -- "
            "python server.py), --url https://host/mcp, or --package mcp-server-time==VERSION"
        )
    if url is not None and not url.startswith(("http://", "https://")):
        raise InstallError(f"--url {url!r} must be an http:// or https:// URL of a streamable HTTP MCP endpoint")
    if package is not None:
        try:
            Requirement(package)
        except InvalidRequirement:
            raise InstallError(
                f"--package {package!r} is not a package requirement; write NAME or NAME==VERSION"
            ) from None
    return McpMount(name, tuple(command), url, package)


async def _resolve_package(package: str) -> tuple[str, str]:
    """The package pinned to an exact version (the newest when none is given)."""
    requirement = Requirement(package)
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator == "==":
        return requirement.name, specs[0].version
    with tempfile.TemporaryDirectory() as scratch:
        wanted = Path(scratch) / "in.txt"
        wanted.write_text(package + "\n")
        output = await run_uv(["pip", "compile", "--quiet", "--no-header", str(wanted)], what=f"resolving {package}")
    for line in output.splitlines():
        if line.lower().startswith(requirement.name.lower().replace("_", "-") + "=="):
            return requirement.name, line.split("==", 1)[1].split()[0]
    raise InstallError(f"could not find a version of {requirement.name} to pin; name one: --package NAME==VERSION")


async def probe(mount: McpMount) -> tuple[str, str, int]:
    """Connect to a command or URL server: its version, its tools' digest and count."""
    from mcp import ClientSession, StdioServerParameters  # noqa: PLC0415 -- only mounting needs the client
    from mcp.client.stdio import stdio_client  # noqa: PLC0415
    from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415

    async with AsyncExitStack() as stack:
        if mount.url is not None:
            read, write = await stack.enter_async_context(streamable_http_client(mount.url))
        else:
            params = StdioServerParameters(command=mount.command[0], args=list(mount.command[1:]))
            read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(ClientSession(read, write))
        answer = await session.initialize()
        tools = [tool.model_dump(mode="json", by_alias=True) for tool in (await session.list_tools()).tools]
        return str(answer.server_info.version or "0"), tools_digest(tools), len(tools)


def _version(reported: str) -> str:
    try:
        return str(Version(reported))
    except InvalidVersion:
        return "0+" + (re.sub(r"[^A-Za-z0-9.]", ".", reported).strip(".") or "unknown")


def write_project(folder: Path, mount: McpMount, *, version: str, pins: dict[str, Any], package: str | None) -> Path:
    """The generated plugin project of a mount."""
    module = "synthral_mcp_" + mount.name.replace("-", "_")
    source = folder / module
    source.mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("mcp_bridge.py"), source / "bridge.py")
    (source / "__init__.py").write_text(f'"""The MCP server {mount.name!r}, mounted as a SynthralOS plugin."""\n')
    (source / "plugin.py").write_text(_PLUGIN)
    command = list(mount.command) or ([package.split("==", 1)[0]] if package else [])
    data = {"name": mount.name, "command": command, "url": mount.url, "package": package, **pins}
    (source / "mount.json").write_text(json.dumps(data, indent=2))
    (source / "synthral-plugin.toml").write_text(_permissions(mount))
    dependencies = ['"synthral-sdk>=1.2,<2"', '"mcp>=2.3,<3"', '"jsonschema>=4"']
    if package:
        dependencies.append(json.dumps(package))
    summary = f"MCP server {mount.name}: " + (package or mount.url or " ".join(mount.command))
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "synthral-mcp-{mount.name}"\nversion = "{version}"\n'
        f'description = {json.dumps(summary[:200])}\nrequires-python = ">=3.11"\n'
        f"dependencies = [{', '.join(dependencies)}]\n\n"
        f'[project.entry-points."synthral.plugins"]\n{mount.plugin} = "{module}.plugin"\n\n'
        '[build-system]\nrequires = ["hatchling>=1.25"]\nbuild-backend = "hatchling.build"\n\n'
        f'[tool.hatch.build.targets.wheel]\npackages = ["{module}"]\n'
    )
    return folder


def _permissions(mount: McpMount) -> str:
    """What a mount declares: the URL's host, or running its server (and reading where it lives)."""
    if mount.url is not None:
        parts = urlsplit(mount.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        return f'[permissions]\nnetwork = ["{host}:{port}"]\n'
    files = 'files = "paths"\n' if mount.command else ""
    return f'[permissions]\nsubprocesses = "any"\n{files}'


def shared_folders(mount: McpMount) -> list[str]:
    """The folders a command mount's program and files live in, shared read-only with its sandbox."""
    found: list[str] = []
    for index, arg in enumerate(mount.command):
        path = Path(arg)
        if not path.is_absolute() or not path.exists() or str(path).startswith("/usr/"):
            continue
        folder = path.parent
        if index == 0 and folder.name == "bin" and (folder.parent / "pyvenv.cfg").is_file():
            folder = folder.parent  # an interpreter of a venv: the whole venv
        if str(folder) not in found:
            found.append(str(folder))
    return [f"{folder}:ro" for folder in found]


_PLUGIN: Final = '''"""Hooks of a mounted MCP server: connect at start, one node per tool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthral_sdk import hookimpl

from .bridge import Bridge, tool_node

MOUNT = json.loads(Path(__file__).with_name("mount.json").read_text())
_bridge: Bridge | None = None


@hookimpl
def synthral_startup(data_dir: Path | None) -> None:
    """Connect to the server and check its pin."""
    global _bridge
    _bridge = Bridge(MOUNT)
    _bridge.start()


@hookimpl
def synthral_nodes() -> list[Any]:
    """One node per tool of the server."""
    return [tool_node(tool, _bridge) for tool in _bridge.tools] if _bridge is not None else []


@hookimpl
def synthral_shutdown() -> None:
    """Close the session."""
    if _bridge is not None:
        _bridge.stop()
'''


async def mount_mcp_server(
    install: Any,
    mount: McpMount,
    *,
    reinstall: bool = False,
    progress: ProgressFn | None = None,
    grant: GrantRequest | None = None,
) -> Manifest:
    """Generate the mount's plugin and install it with ``install(folder, reinstall=..., progress=..., grant=...)``.

    A command mount's program and files are shared read-only with its sandbox (the person who
    mounts it named them); ``grant`` decides the rest, like any install.

    Raises:
        InstallError: The server could not be reached to pin it, or the install failed.
    """
    say = progress or (lambda _step: None)
    pins: dict[str, Any] = {}
    package = None
    if mount.package is not None:
        say(f"pinning {mount.package}")
        name, exact = await _resolve_package(mount.package)
        package, version = f"{name}=={exact}", exact
    else:
        say("connecting to the MCP server to pin its version")
        try:
            reported, digest, count = await probe(mount)
        except Exception as exc:
            raise InstallError(
                f"could not reach the MCP server to mount it ({type(exc).__name__}: {exc}); check the command or URL"
            ) from exc
        pins = {"server_version": reported, "tools_digest": digest, "tools": count}
        version = _version(reported)
    with tempfile.TemporaryDirectory(prefix="synthral-mcp-") as scratch:
        folder = write_project(Path(scratch) / mount.plugin, mount, version=version, pins=pins, package=package)
        request = grant or GrantRequest()
        request = GrantRequest(items=request.items, approve=request.approve, paths=shared_folders(mount))
        return await install(  # type: ignore[no-any-return]
            str(folder), reinstall=reinstall, progress=progress, grant=request
        )
