"""Reading wheels without installing them, building them, and finding the SDK's wheel."""

from __future__ import annotations

import configparser
import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import synthral_sdk
from synthral.errors import InstallError, NoEntryPoint
from synthral.plugins.layout import EntryPointInfo
from synthral.plugins.uv import run_uv
from synthral_sdk.permissions import PERMISSIONS_FILE, package_of

__all__ = ["WheelInfo", "build_wheel", "file_sha256", "inspect_wheel", "sdk_source_dir", "sdk_wheel"]

ENTRY_POINT_GROUP = synthral_sdk.ENTRY_POINT_GROUP


@dataclass(frozen=True)
class WheelInfo:
    """What a wheel's ``.dist-info`` says about it."""

    path: Path
    dist: str
    version: str
    summary: str
    requires: list[Requirement]
    entry_points: list[EntryPointInfo]
    sha256: str
    permissions_text: str | None = None
    """The plugin's ``synthral-plugin.toml``, if its package has one."""

    @property
    def plugin_name(self) -> str:
        """The plugin's name: the name of its one ``synthral.plugins`` entry point."""
        return self.entry_points[0].name


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def parse_entry_points(text: str) -> list[EntryPointInfo]:
    """The ``synthral.plugins`` entries of an ``entry_points.txt``."""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep names' case, as importlib.metadata does
    parser.read_string(text)
    if not parser.has_section(ENTRY_POINT_GROUP):
        return []
    return [EntryPointInfo(name=name.strip(), value=value.strip()) for name, value in parser.items(ENTRY_POINT_GROUP)]


def inspect_wheel(path: Path) -> WheelInfo:
    """Read a wheel's metadata and entry points without installing or importing it.

    Raises:
        InstallError: The file is not a readable wheel.
        NoEntryPoint: The wheel declares no (or more than one) ``synthral.plugins`` entry point.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InstallError(f"{path} is not a readable wheel ({exc}); build one with 'uv build --wheel'") from None
    with archive:
        names = archive.namelist()
        metadata_name = next((n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None)
        if metadata_name is None:
            raise InstallError(f"{path} has no .dist-info/METADATA; it is not a wheel")
        meta = BytesParser().parsebytes(archive.read(metadata_name), headersonly=True)
        eps_name = metadata_name.replace("/METADATA", "/entry_points.txt")
        eps_text = archive.read(eps_name).decode() if eps_name in names else ""
        entry_points = parse_entry_points(eps_text)
        permissions_name = f"{package_of(entry_points[0].value)}/{PERMISSIONS_FILE}" if entry_points else ""
        permissions_text = (
            archive.read(permissions_name).decode("utf-8", errors="replace") if permissions_name in names else None
        )
    dist = meta.get("Name") or ""
    requires: list[Requirement] = []
    for raw in meta.get_all("Requires-Dist") or []:
        try:
            requires.append(Requirement(raw))
        except InvalidRequirement:
            continue
    fix = (
        'declare exactly one in its pyproject.toml:\n  [project.entry-points."synthral.plugins"]\n'
        '  my-plugin = "my_plugin.hooks"'
    )
    if not entry_points:
        raise NoEntryPoint(
            f"wheel {path.name} ({dist}) declares no entry point in the group '{ENTRY_POINT_GROUP}', so it is not "
            f"a SynthralOS plugin; {fix}",
            details={"wheel": path.name},
        )
    if len(entry_points) > 1:
        raise NoEntryPoint(
            f"wheel {path.name} declares {len(entry_points)} entry points in '{ENTRY_POINT_GROUP}' "
            f"({', '.join(ep.name for ep in entry_points)}); a plugin has one, and its name is the plugin's name; "
            "list several hook modules from one module instead",
            details={"wheel": path.name},
        )
    return WheelInfo(
        path=path,
        dist=canonicalize_name(dist),
        version=meta.get("Version") or "",
        summary=meta.get("Summary") or "",
        requires=requires,
        entry_points=entry_points,
        sha256=file_sha256(path),
        permissions_text=permissions_text,
    )


async def build_wheel(source_dir: Path, out_dir: Path) -> Path:
    """Build a wheel from a project folder with ``uv build``.

    Raises:
        InstallError: The folder is not a buildable project.
    """
    if not (source_dir / "pyproject.toml").is_file():
        raise InstallError(
            f"{source_dir} has no pyproject.toml; point 'plugin install' at a plugin project folder, a .whl "
            "file or NAME==VERSION"
        )
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 -- one mkdir, not worth a thread
    await run_uv(["build", "--wheel", "--out-dir", str(out_dir), str(source_dir)], what=f"building {source_dir}")
    wheels = sorted(out_dir.glob("*.whl"))  # noqa: ASYNC240 -- a directory of one file
    if not wheels:
        raise InstallError(f"building {source_dir} produced no wheel")
    return wheels[-1]


def sdk_source_dir() -> Path | None:
    """The SDK's project folder when the SDK runs from a source checkout."""
    package_dir = Path(synthral_sdk.__file__).resolve().parent
    project = package_dir.parent
    if (project / "pyproject.toml").is_file() and (project / "synthral_sdk").is_dir():
        return project
    return None


def _source_digest(project: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".toml", ".typed", ".md"}:
            digest.update(str(path.relative_to(project)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


async def sdk_wheel(wheelhouse: Path, override: Path | None = None) -> Path | None:
    """The wheel of the SDK the host runs, built once per SDK source and cached.

    Plugin venvs get exactly the host's SDK. ``override`` (``SYNTHRAL_SDK_WHEEL``) names a
    wheel to use instead. Returns ``None`` when the SDK was installed from a package index;
    plugin venvs then take the same version from the index.
    """
    if override is not None:
        return override
    project = sdk_source_dir()
    if project is None:
        return None
    target_dir = wheelhouse / f"sdk-{synthral_sdk.__version__}-{_source_digest(project)}"
    existing = sorted(target_dir.glob("synthral_sdk-*.whl"))
    if existing:
        return existing[-1]
    staging = wheelhouse / f".build-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    wheel = await build_wheel(project, staging)
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / wheel.name
    os.replace(wheel, final)
    shutil.rmtree(staging, ignore_errors=True)
    return final
