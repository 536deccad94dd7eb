"""Installing a plugin version into its own venv, atomically.

Everything happens in a staging directory under ``$SYNTHRAL_HOME/plugins``; only a
verified installation is renamed into ``<name>/<version>/``. A failure at any step (bad
wheel, unresolvable dependencies, a plugin that does not start) removes the staging
directory and leaves the home exactly as it was.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, cast

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import synthral_sdk
from synthral.config import Settings
from synthral.errors import (
    IncompatiblePlugin,
    InstallError,
    NoEntryPoint,
    PluginAlreadyInstalled,
    SynthralError,
)
from synthral.plugins.layout import EntryPointInfo, Manifest, PluginLayout, sort_versions
from synthral.plugins.metadata import read_venv
from synthral.plugins.permissions import GrantRequest, check_grant, decide_grant, declared_in_venv, declared_in_wheel
from synthral.plugins.registry import load_registry
from synthral.plugins.signatures import verify_wheel
from synthral.plugins.supervisor import PluginProcess, ProcessOptions
from synthral.plugins.uv import UvFailed, run_uv
from synthral.plugins.wheels import WheelInfo, build_wheel, inspect_wheel, sdk_wheel
from synthral_sdk.permissions import Permissions
from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["Installer", "ProgressFn", "parse_source"]

ProgressFn = Callable[[str], None]
"""Receives a short description of each install step as it starts."""

SDK_DIST: Final = "synthral-sdk"
PLUGIN_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class Source:
    """What the user asked to install."""

    kind: str  # "wheel" | "folder" | "index"
    path: Path | None = None
    requirement: Requirement | None = None

    def describe(self) -> str:
        return str(self.path) if self.path is not None else str(self.requirement)


def parse_source(source: str, registry: Path | None = None) -> Source:
    """Classify ``source`` as a wheel file, a project folder or ``NAME==VERSION``.

    A bare name is looked up in the plugin registry (``registry``, else the checkout's).

    Raises:
        InstallError: It is none of those.
    """
    path = Path(source).expanduser()
    if "/" not in source and "==" not in source and not path.exists():
        entry = load_registry(registry).get(source)
        if entry is not None and entry.path is not None:
            return Source("folder", path=Path(entry.path))
        if entry is not None and entry.builtin:
            raise InstallError(f"{source} is built into the host; there is nothing to install")
    if path.suffix == ".whl":
        if not path.is_file():
            raise InstallError(f"wheel {path} does not exist")
        return Source("wheel", path=path.resolve())
    if path.is_dir():
        return Source("folder", path=path.resolve())
    try:
        requirement = Requirement(source)
    except InvalidRequirement:
        requirement = None
    specs = list(requirement.specifier) if requirement else []
    if requirement is None or len(specs) != 1 or specs[0].operator not in {"==", "==="} or "*" in specs[0].version:
        raise InstallError(
            f"{source!r} is not a .whl file, a plugin project folder, a first-party plugin from "
            "plugin_registry.toml or NAME==VERSION; name an existing path or pin an exact version, "
            "e.g. 'synthral-http==0.1.0'"
        )
    return Source("index", requirement=requirement)


def _base_python() -> str:
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def check_sdk_requirement(info: WheelInfo) -> None:
    """Refuse a wheel built for another SDK major before creating anything.

    Raises:
        IncompatiblePlugin: The wheel's synthral-sdk requirement excludes the host's SDK.
    """
    host_sdk = Version(synthral_sdk.__version__)
    for requirement in info.requires:
        if canonicalize_name(requirement.name) != SDK_DIST:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if not requirement.specifier.contains(host_sdk, prereleases=True):
            raise IncompatiblePlugin(
                f"{info.dist} {info.version} requires {SDK_DIST}{requirement.specifier}, but this host provides "
                f"{SDK_DIST} {host_sdk} (plugin API major {host_sdk.major}); install a release of {info.dist} "
                f"built for {SDK_DIST}>={host_sdk.major},<{host_sdk.major + 1}, or a SynthralOS release whose SDK "
                "it supports",
                details={"requires": str(requirement.specifier), "host_sdk": str(host_sdk)},
            )


def _lock_hashes(lock_text: str, dist: str) -> list[str]:
    """The ``--hash`` values the lock file records for ``dist``."""
    hashes: list[str] = []
    current: str | None = None
    for line in lock_text.splitlines():
        stripped = line.strip()
        if line and not line[0].isspace() and "==" in stripped:
            current = canonicalize_name(stripped.split("==", 1)[0])
        elif current == dist and stripped.startswith("--hash=sha256:"):
            hashes.append(stripped.removeprefix("--hash=sha256:").rstrip(" \\"))
    return hashes


def _lock_pins(lock_text: str) -> list[str]:
    return [
        line.split(" ", 1)[0]
        for line in lock_text.splitlines()
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line
    ]


class Installer:
    """Installs plugin versions under ``settings.plugins_dir``."""

    def __init__(self, settings: Settings, layout: PluginLayout) -> None:
        self.settings = settings
        self.layout = layout

    async def install(
        self,
        source: str,
        *,
        reinstall: bool = False,
        progress: ProgressFn | None = None,
        grant: GrantRequest | None = None,
        actor: str | None = None,
    ) -> Manifest:
        """Install ``source`` (a wheel, a folder or ``NAME==VERSION``) and return its manifest.

        The plugin's declared permissions are read before anything is installed; the grant is
        decided as :mod:`synthral.plugins.permissions` says, and the verifying start already
        runs in the sandbox with it.

        Args:
            source: What to install.
            reinstall: Replace the version if it is installed.
            progress: Told each step as it starts.
            grant: What the installing person granted or may be asked.
            actor: Who installs it (server mode), for the provenance record.

        Raises:
            InstallError: Any step failed; the message names it and nothing was left behind.
            ApprovalRequired: It asks for permissions nobody granted.
            NoEntryPoint: The distribution is not a SynthralOS plugin.
            IncompatiblePlugin: It was built for another SDK major.
            PluginAlreadyInstalled: That version is installed and ``reinstall`` is false.
            PluginLoadError, PluginStartError: The plugin does not start.
        """
        say = progress or (lambda _step: None)
        request = grant or GrantRequest()
        parsed = parse_source(source, self.settings.plugins.registry)
        work = Path(tempfile.mkdtemp(prefix="synthral-install-"))
        self.layout.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.layout.root))
        try:
            info: WheelInfo | None = None
            if parsed.kind == "folder":
                say(f"building a wheel from {parsed.path}")
                info = inspect_wheel(await build_wheel(cast(Path, parsed.path), work / "dist"))
            elif parsed.kind == "wheel":
                say(f"reading {cast(Path, parsed.path).name}")
                info = inspect_wheel(cast(Path, parsed.path))
            signed = verify_wheel(
                cast(Path, parsed.path) if parsed.kind == "wheel" else None, self.settings.supply, kind=parsed.kind
            )
            granted: Permissions | None = None
            if info is not None:
                check_sdk_requirement(info)
                self._refuse_duplicate(info.plugin_name, info.version, reinstall)
                granted = await self._grant(info.plugin_name, info.version, declared_in_wheel(info), request)
            manifest = await self._build(
                parsed, info=info, staging=staging, say=say, reinstall=reinstall, granted=granted, request=request
            )
            manifest.provenance.update({**self._provenance(parsed, info, actor), **signed})
            say("activating")
            self._activate(staging, manifest, reinstall)
            return manifest
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)

    def _refuse_duplicate(self, name: str, version: str, reinstall: bool) -> None:
        if not reinstall and self.layout.version_dir(name, version).is_dir():
            raise PluginAlreadyInstalled(
                f"plugin {name} {version} is installed already; remove that version first, or reinstall it",
                details={"plugin": name, "version": version},
            )

    async def _grant(self, name: str, version: str, declared: Permissions, request: GrantRequest) -> Permissions:
        """The grant of a version about to be installed (its checks done before anything is built)."""
        installed = [m for m in self.layout.manifests() if m.name == name and m.version != version]
        previous = None
        if installed:
            newest = sort_versions([m.version for m in installed])[-1]
            previous = next(m for m in installed if m.version == newest).granted()
        sandbox = self.settings.sandbox
        grant = await decide_grant(
            name,
            version,
            declared,
            request,
            previous=previous,
            default_memory_mb=sandbox.memory_mb,
            default_cpu=sandbox.cpu,
        )
        check_grant(grant, self.settings.home)
        return grant

    def _provenance(self, parsed: Source, info: WheelInfo | None, actor: str | None) -> dict[str, JSONValue]:
        record: dict[str, JSONValue] = {"kind": parsed.kind, "installedAt": datetime.now(UTC).isoformat()}
        if info is not None:
            record.update({"file": info.path.name, "sha256": info.sha256})
        if parsed.kind == "index":
            record["index"] = self.settings.supply.index_url
        if actor is not None:
            record["installedBy"] = actor
        return record

    async def _build(
        self,
        parsed: Source,
        *,
        info: WheelInfo | None,
        staging: Path,
        say: ProgressFn,
        reinstall: bool,
        granted: Permissions | None,
        request: GrantRequest,
    ) -> Manifest:
        venv = staging / "venv"
        python = venv / "bin" / "python"
        say("creating the plugin's virtualenv")
        await run_uv(
            ["venv", "--quiet", "--relocatable", "--python", _base_python(), str(venv)], what="creating the venv"
        )
        find_links: list[Path] = list(self.settings.plugins.find_links)
        wheel = await sdk_wheel(self.settings.wheelhouse, self.settings.plugins.sdk_wheel)
        if wheel is not None:
            find_links.append(wheel.parent)
        if info is not None:
            (staging / "wheel").mkdir()
            shutil.copy2(info.path, staging / "wheel" / info.path.name)
            find_links.append(staging / "wheel")
            wanted = f"{info.dist}=={info.version}"
        else:
            wanted = str(parsed.requirement)
        (staging / "requirements.in").write_text(f"{wanted}\n{SDK_DIST}\n")
        (staging / "constraints.txt").write_text(f"{SDK_DIST}=={synthral_sdk.__version__}\n")
        links = [arg for path in find_links for arg in ("--find-links", str(path))]
        say("resolving dependencies")
        lock = staging / "requirements.lock"
        await self._uv_twice(
            [
                "pip",
                "compile",
                "--quiet",
                "--no-header",
                "--generate-hashes",
                "--python",
                str(python),
                "--constraint",
                str(staging / "constraints.txt"),
                *links,
                "--output-file",
                str(lock),
                str(staging / "requirements.in"),
            ],
            what=f"resolving the dependencies of {wanted}",
        )
        say("installing into the venv")
        await self._uv_twice(
            # Compiled now: inside the sandbox the venv is read-only, so nothing could cache bytecode later.
            [
                "pip",
                "sync",
                "--quiet",
                "--require-hashes",
                "--compile-bytecode",
                "--python",
                str(python),
                *links,
                str(lock),
            ],
            what=f"installing {wanted}",
        )
        lock_text = lock.read_text()
        dists = read_venv(venv, synthral_sdk.ENTRY_POINT_GROUP)
        dist_name = info.dist if info is not None else canonicalize_name(cast(Requirement, parsed.requirement).name)
        installed = dists.get(dist_name)
        if installed is None:
            raise InstallError(f"{dist_name} is not in the venv after installing it; the wheel's metadata is broken")
        if len(installed.entry_points) != 1:
            raise NoEntryPoint(
                f"{dist_name} {installed.version} declares {len(installed.entry_points)} entry points in the group "
                f"'{synthral_sdk.ENTRY_POINT_GROUP}'; a SynthralOS plugin declares exactly one, named after the plugin",
                details={"dist": dist_name},
            )
        name = installed.entry_points[0].name
        if not PLUGIN_NAME.fullmatch(name):
            raise InstallError(
                f"plugin name {name!r} (the entry point's name) must be lowercase letters, digits, '-' or '_'",
                details={"dist": dist_name},
            )
        declared = declared_in_venv(venv, installed.entry_points[0])
        if info is None:
            self._refuse_duplicate(name, installed.version, reinstall)
            granted = await self._grant(name, installed.version, declared, request)
        assert granted is not None  # decided before anything was built, or just now
        sdk = dists.get(SDK_DIST)
        say("starting the plugin in its sandbox to read its capabilities")
        answer = await self._verify(
            name=name,
            version=installed.version,
            dist=dist_name,
            python=python,
            entry_points=installed.entry_points,
            summary=installed.summary,
            grant=granted,
        )
        hashes = _lock_hashes(lock_text, dist_name)
        return Manifest(
            name=name,
            dist=dist_name,
            version=installed.version,
            summary=installed.summary,
            source=parsed.describe(),
            wheel_file=info.path.name if info is not None else None,
            wheel_sha256=info.sha256 if info is not None else (hashes[0] if hashes else ""),
            sdk_version=sdk.version if sdk is not None else "",
            protocol_version=str(answer.get("protocolVersion", "")),
            python=f"{sys.version_info.major}.{sys.version_info.minor}",
            installed_at=datetime.now(UTC),
            entry_points=installed.entry_points,
            requirements=_lock_pins(lock_text),
            capabilities=cast(list[JSONObject], answer.get("capabilities", [])),
            permissions=cast(dict[str, JSONValue], declared.to_json()),
            grant=cast(dict[str, JSONValue], granted.to_json()),
        )

    async def _uv_twice(self, args: list[str], *, what: str) -> None:
        """Try offline first (warm cache, no network round trips), then online."""
        try:
            await run_uv([*args, "--offline"], what=what)
        except UvFailed:
            try:
                await run_uv(args, what=what)
            except UvFailed as exc:
                if SDK_DIST in exc.output and "synthral-sdk==" in exc.output:
                    raise IncompatiblePlugin(
                        f"{what}: the plugin cannot use {SDK_DIST} {synthral_sdk.__version__}, the SDK of this "
                        f"host; install a release built for {SDK_DIST} {Version(synthral_sdk.__version__).major}.x."
                        f"\n{exc.message}",
                        details=exc.details,
                    ) from None
                raise

    async def _verify(
        self,
        *,
        name: str,
        version: str,
        dist: str,
        python: Path,
        entry_points: list[EntryPointInfo],
        summary: str,
        grant: Permissions,
    ) -> JSONObject:
        process = PluginProcess(
            ProcessOptions(
                name=name,
                version=version,
                dist=dist,
                python=python,
                entry_points=[ep.model_dump() for ep in entry_points],
                blob_root=self.settings.blobs_dir,
                data_dir=self.layout.data_dir(name),
                start_timeout=self.settings.plugins.start_timeout,
                summary=summary,
                grant=grant,
                sandbox=self.settings.sandbox,
                run_dir=self.settings.run_dir,
            )
        )
        try:
            return await process.start()
        except SynthralError as exc:
            exc.message = f"{name} {version} was not installed because it does not start: {exc.message}"
            raise
        finally:
            await process.stop()

    def _activate(self, staging: Path, manifest: Manifest, reinstall: bool) -> None:
        for leftover in ("requirements.in", "constraints.txt"):
            (staging / leftover).unlink(missing_ok=True)
        self.layout.write_manifest(staging, manifest)
        trash: Path | None = None
        with self.layout.lock():
            final = self.layout.version_dir(manifest.name, manifest.version)
            if final.exists():
                if not reinstall:
                    raise PluginAlreadyInstalled(
                        f"plugin {manifest.name} {manifest.version} was installed meanwhile by another process"
                    )
                trash = self.layout.trash_dir(manifest.name)
                final.rename(trash / "old")
            final.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(final)
            state = self.layout.read_state()
            state.disabled = [key for key in state.disabled if key != manifest.key]
            self.layout.write_state(state)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
