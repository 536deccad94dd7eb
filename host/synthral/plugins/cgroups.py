"""Control groups for plugin processes: memory, process count and CPU, per process tree.

rlimits count one process at a time, and ``RLIMIT_NPROC`` does not hold for a process whose
real user is root; a cgroup holds the whole tree of a plugin process whatever its user.
The host uses one when it may make them:

- **cgroup v1** (separate ``memory``, ``pids`` and ``cpu`` hierarchies): a child of the
  host's own group in each, when the host may write there (root, or a delegated group);
- **cgroup v2**: a child of the folder ``SYNTHRAL_PLUGIN_CGROUP`` names, a group the operator
  made for plugins with the ``memory``, ``pids`` and ``cpu`` controllers enabled in its
  ``cgroup.subtree_control`` (systemd: a slice with ``Delegate=yes``).

Otherwise the sandbox's rlimits are all there is, and ``plugin info`` says so. A process
joins its group between fork and exec, so nothing it starts escapes it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["Cgroup", "CgroupLimits", "CgroupRoot", "find_cgroup_root"]

log = logging.getLogger("synthral.plugins")

_V1_CONTROLLERS: Final = ("memory", "pids", "cpu")
_PERIOD_US: Final = 100_000


@dataclass(frozen=True)
class CgroupLimits:
    """What one plugin process tree may use."""

    memory_bytes: int
    cpu: float
    processes: int


@dataclass(frozen=True)
class CgroupRoot:
    """Where plugin groups are made: one folder per controller (v1) or one folder (v2)."""

    version: int
    folders: tuple[Path, ...]

    def describe(self) -> str:
        """``cgroup v1 (/sys/fs/cgroup/memory/...)`` for messages."""
        return f"cgroup v{self.version} ({', '.join(str(folder) for folder in self.folders)})"

    def create(self, name: str, limits: CgroupLimits) -> Cgroup:
        """Make a group ``name`` with ``limits``.

        Raises:
            OSError: The group could not be made or limited.
        """
        folders = tuple(folder / f"{name}-{secrets.token_hex(3)}" for folder in self.folders)
        made: list[Path] = []
        try:
            for folder in folders:
                folder.mkdir(mode=0o755)
                made.append(folder)
            if self.version == 2:
                root = folders[0]
                _write(root / "memory.max", str(limits.memory_bytes))
                with contextlib.suppress(FileNotFoundError):
                    _write(root / "memory.swap.max", "0")
                _write(root / "pids.max", str(limits.processes))
                _write(root / "cpu.max", f"{int(limits.cpu * _PERIOD_US)} {_PERIOD_US}")
            else:
                memory, pids, cpu = folders
                _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
                with contextlib.suppress(OSError):  # only with swap accounting
                    _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
                _write(pids / "pids.max", str(limits.processes))
                _write(cpu / "cpu.cfs_period_us", str(_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(int(limits.cpu * _PERIOD_US)))
        except OSError:
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        return Cgroup(self.version, folders)


class Cgroup:
    """One plugin process tree's group; :meth:`join` puts the process being started into it."""

    def __init__(self, version: int, folders: tuple[Path, ...]) -> None:
        self.version = version
        self.folders = folders
        self._fds: list[int] = []

    def preexec(self) -> Callable[[], None]:
        """A function for between fork and exec that moves the child into the group.

        The group's ``cgroup.procs`` files are opened here, in the parent, so the child only
        writes to descriptors (nothing that could block on a lock another thread holds).
        """
        self._fds = [os.open(folder / "cgroup.procs", os.O_WRONLY) for folder in self.folders]
        fds = list(self._fds)

        def join() -> None:
            for fd in fds:
                os.write(fd, b"0")  # "0" is the writing process itself

        return join

    def spawned(self) -> None:
        """The process has started (in the group): close the descriptors the child used."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    def memory_peak(self) -> int | None:
        """The most memory the group used, in bytes, where the kernel reports it."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.folders[0] / name).read_text())
        return None

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory limit."""
        path = self.folders[0] / ("memory.events" if self.version == 2 else "memory.oom_control")
        with contextlib.suppress(OSError, ValueError):
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def remove(self) -> None:
        """Kill what is left in the group and remove it (after the process tree has exited)."""
        self.spawned()
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        log.warning("could not remove cgroup %s: %s", folder, exc)
                        break
                    _kill_members(folder)
                    time.sleep(0.02)


def _kill_members(folder: Path) -> None:
    kill = folder / "cgroup.kill"
    if kill.exists():
        with contextlib.suppress(OSError):
            _write(kill, "1")
        return
    with contextlib.suppress(OSError, ValueError):
        for line in (folder / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(line), 9)


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _own_groups() -> dict[str, str]:
    """``controller → path`` of this process's groups (``""`` for the v2 hierarchy)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                found[controller] = path
    return found


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def find_cgroup_root(configured: str | None) -> CgroupRoot | None:
    """Where this host can make plugin groups, or ``None`` (``configured``: "off", "auto" or a v2 folder)."""
    if configured == "off":
        return None
    if configured not in {None, "", "auto"}:
        folder = Path(str(configured))
        controllers = (folder / "cgroup.subtree_control").read_text().split() if folder.is_dir() else []
        missing = [name for name in _V1_CONTROLLERS if name not in controllers]
        if not _writable_dir(folder) or missing:
            log.warning(
                "SYNTHRAL_PLUGIN_CGROUP=%s is not a writable cgroup v2 folder with %s enabled in its "
                "cgroup.subtree_control; plugin limits fall back to rlimits",
                folder,
                ", ".join(missing) or "memory, pids and cpu",
            )
            return None
        return CgroupRoot(2, (folder,))
    own = _own_groups()
    base = Path("/sys/fs/cgroup")
    folders: list[Path] = []
    for controller in _V1_CONTROLLERS:
        path = own.get(controller)
        candidates = [base / controller] + ([base / "cpu,cpuacct"] if controller == "cpu" else [])
        mount = next((c for c in candidates if (c / "cgroup.procs").exists()), None)
        if path is None or mount is None or not _writable_dir(mount / path.lstrip("/")):
            return None
        folders.append(mount / path.lstrip("/"))
    return CgroupRoot(1, tuple(folders))
