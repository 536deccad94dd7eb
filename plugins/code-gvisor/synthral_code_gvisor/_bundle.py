"""The OCI bundle of one run: an empty read-only root, the system's /usr and the run's folders."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["write_bundle"]

ETC_FILES: Final = ("/etc/ld.so.cache", "/etc/localtime")
ETC_DIRS: Final = ("/etc/ssl", "/etc/ca-certificates", "/etc/alternatives")


def _bind(source: str, destination: str, *, writable: bool = False) -> JSONObject:
    return {
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["rbind", "rw" if writable else "ro"],
    }


def _root(rootfs: Path, mounts: Sequence[JSONObject]) -> None:
    """Mount points, and the /bin, /lib... links into /usr as the host has them."""
    rootfs.mkdir()
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_symlink():
            (rootfs / top).symlink_to(os.readlink(host))
        elif host.is_dir():
            (rootfs / top).mkdir()
    for mount in mounts:
        target = rootfs / str(mount["destination"]).lstrip("/")
        if target.exists() or target.is_symlink():
            continue
        source = Path(str(mount["source"]))
        if mount["type"] == "bind" and source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        else:
            target.mkdir(parents=True, exist_ok=True)


def write_bundle(
    bundle: Path,
    *,
    scratch: Path,
    control: Path,
    packages: Sequence[Path],
    command: Sequence[str],
    env: dict[str, str],
    uid: int,
    gid: int,
    memory_bytes: int,
    cpu_seconds: int,
    processes: int,
) -> None:
    """Write ``config.json`` and the root folder of a bundle for ``runsc run``."""
    mounts: list[JSONObject] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=64m"]},  # noqa: S108
        _bind("/usr", "/usr"),
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if Path(top).is_dir() and not Path(top).is_symlink():
            mounts.append(_bind(top, top))
    mounts += [_bind(path, path) for path in (*ETC_FILES, *ETC_DIRS) if Path(path).exists()]
    mounts += [_bind(str(scratch), "/scratch", writable=True), _bind(str(control), "/.synthral", writable=True)]
    mounts += [_bind(str(folder), f"/packages/{index}") for index, folder in enumerate(packages)]
    _root(bundle / "rootfs", mounts)
    limits = {
        "RLIMIT_AS": memory_bytes,
        "RLIMIT_CPU": cpu_seconds,
        "RLIMIT_NPROC": processes,
        "RLIMIT_FSIZE": 256 * 1_048_576,
        "RLIMIT_NOFILE": 256,
        "RLIMIT_CORE": 0,
    }
    config: JSONObject = {
        "ociVersion": "1.0.2",
        "hostname": "sandbox",
        "root": {"path": "rootfs", "readonly": True},
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid},
            "args": list(command),
            "env": [f"{key}={value}" for key, value in env.items()],
            "cwd": "/scratch",
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
            "rlimits": [{"type": kind, "hard": value, "soft": value} for kind, value in limits.items()],
            "noNewPrivileges": True,
        },
        "mounts": list[JSONValue](mounts),
        "linux": {
            "namespaces": [{"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount")],
            "resources": {"pids": {"limit": processes}, "memory": {"limit": memory_bytes}},
        },
    }
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
