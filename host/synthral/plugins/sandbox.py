"""The OS sandbox each plugin process runs in, from the host's side.

The command line and the launcher are the SDK's (:mod:`synthral_sdk._plugin_sandbox`, shared
with the conformance suite); here is what only the host has:

- **settings and status**: whether bubblewrap and user namespaces work here, and what the
  operator allowed when they do not (``SYNTHRAL_PLUGIN_SANDBOX``);
- **one folder per process** under ``$SYNTHRAL_HOME/run/plugins``: its scratch folder
  (``/tmp`` inside), its blob inbox and the socket of its egress proxy;
- **blobs**: a per-process view of the store (hard links to the blobs it was handed,
  read-only inside) and the inbox it writes new blobs to; a blob it refers to in an answer
  is checked against its digest and moved into the store (:class:`BlobGate`);
- **egress**: with network granted, an allow-list proxy on a Unix socket that judges every
  connection by the plugin's network policy (the operator's egress policy narrowed to the
  hosts it was granted, :meth:`synthral_sdk.permissions.Permissions.network_policy`) and by
  the calling workspace's policy the SDK sends along, and never reaches the host's own API;
- **limits**: a cgroup per process tree where the host may make one
  (:mod:`synthral.plugins.cgroups`), rlimits otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from synthral.config import SandboxSettings
from synthral.errors import OutputInvalid
from synthral.plugins.cgroups import Cgroup, CgroupLimits, CgroupRoot, find_cgroup_root
from synthral.plugins.trust_settings import SandboxMode
from synthral_sdk import _seccomp
from synthral_sdk._plugin_sandbox import (
    SandboxPlan,
    bwrap_problem,
    find_bwrap,
    sandbox_command,
    sandbox_env,
)
from synthral_sdk._sandbox_proxy import AllowListProxy
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.permissions import Permissions
from synthral_sdk.types import JSONValue

__all__ = [
    "BlobGate",
    "PluginSandbox",
    "SandboxMode",
    "SandboxSettings",
    "SandboxStatus",
    "SpawnArgs",
    "blob_digests",
    "sandbox_status",
    "sweep_stale",
]

log = logging.getLogger("synthral.plugins")

_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class SandboxStatus:
    """Whether plugin processes run sandboxed on this host, and why not when they do not."""

    mode: SandboxMode
    bwrap: str | None
    problem: str | None
    cgroups: CgroupRoot | None

    @property
    def sandboxed(self) -> bool:
        """Plugin processes start under bubblewrap."""
        return self.mode is not SandboxMode.OFF and self.problem is None

    @property
    def refuses(self) -> bool:
        """Plugin processes do not start at all (the sandbox is required and impossible)."""
        return self.mode is SandboxMode.REQUIRED and self.problem is not None

    def describe(self) -> str:
        """One line for the host's start and ``plugin info``."""
        if self.mode is SandboxMode.OFF:
            return "plugins run UNSANDBOXED, with the host's rights (SYNTHRAL_PLUGIN_SANDBOX=off)"
        if self.problem is not None and self.mode is SandboxMode.IF_AVAILABLE:
            return f"plugins run UNSANDBOXED (SYNTHRAL_PLUGIN_SANDBOX=if-available): {self.problem}"
        if self.problem is not None:
            return (
                f"plugins cannot start: the sandbox is required and unavailable: {self.problem}. Fix that, or allow "
                "unsandboxed plugins explicitly with SYNTHRAL_PLUGIN_SANDBOX=if-available"
            )
        limits = self.cgroups.describe() if self.cgroups is not None else "rlimits (no cgroup the host may write)"
        return f"plugins run sandboxed (bubblewrap, seccomp; limits by {limits})"


@cache
def _probe(mode: SandboxMode, bwrap: str | None, cgroup: str) -> SandboxStatus:
    if mode is SandboxMode.OFF:
        return SandboxStatus(mode, None, None, None)
    binary = find_bwrap(bwrap)
    problem = bwrap_problem(binary)
    return SandboxStatus(mode, binary, problem, find_cgroup_root(cgroup) if problem is None else None)


def sandbox_status(settings: SandboxSettings) -> SandboxStatus:
    """What this machine allows (probed once per process and setting)."""
    return _probe(settings.mode, settings.bwrap, settings.cgroup)


def blob_digests(value: object) -> set[str]:
    """The hex digests of every blob reference (``{"$blob": "sha256:…"}``) in a JSON value."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$blob")
            if isinstance(ref, str) and ref.startswith("sha256:"):
                digest = ref[7:]
                if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
                    found.add(digest)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _shard(root: Path, digest: str) -> Path:
    return root / "sha256" / digest[:2] / digest[2:]


class BlobGate:
    """Blobs in and out of one sandboxed process.

    Args:
        store: The blob store's folder.
        view: The folder shown to the process as the store (read-only): links to the blobs it
            was handed or produced.
        inbox: The folder it writes new blobs into.
        label: ``name==version``, for messages.
    """

    def __init__(self, store: Path, view: Path, inbox: Path, label: str) -> None:
        self.store = store
        self.view = view
        self.inbox = inbox
        self.label = label
        self._shown: set[str] = set()

    def hand(self, value: object) -> None:
        """Show the process every stored blob ``value`` refers to (before sending it)."""
        for digest in blob_digests(value) - self._shown:
            self._show(digest)

    def _show(self, digest: str) -> None:
        source = _shard(self.store, digest)
        target = _shard(self.view, digest)
        if not source.is_file():
            return  # the plugin will say the reference names no stored blob
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in {errno.EXDEV, errno.EPERM, errno.EMLINK}:
                raise
            shutil.copyfile(source, target)  # the view is on another file system: a copy, read-only inside
        self._shown.add(digest)

    def forget(self, digest: str) -> None:
        """Stop showing the process a blob the host deleted (its link in the view goes too)."""
        self._shown.discard(digest)
        _shard(self.view, digest).unlink(missing_ok=True)

    def ingest(self, value: object) -> None:
        """Move every blob ``value`` refers to from the inbox into the store, checking its bytes.

        Raises:
            OutputInvalid: A blob's bytes do not hash to the digest its reference claims.
        """
        for digest in blob_digests(value):
            if not _shard(self.store, digest).is_file():
                self._take(digest)
            else:  # stored already: the plugin's copy need not stay in its inbox
                copy = self.inbox / "sha256" / digest[:2] / digest[2:]
                with contextlib.suppress(OSError):
                    if copy.is_file() and not copy.is_symlink():
                        # It wrote these bytes now: the stored file's time says so (the step may be granted it).
                        os.utime(_shard(self.store, digest))
                    copy.unlink()
            if digest not in self._shown:
                self._show(digest)

    def _take(self, digest: str) -> None:
        fd = _open_in(self.inbox, ("sha256", digest[:2], digest[2:]))
        if fd is None:
            return
        tmp_dir = self.store / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        out_fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "rb") as source, os.fdopen(out_fd, "wb") as out:
                while chunk := source.read(_CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if hasher.hexdigest() != digest:
                raise OutputInvalid(
                    f"plugin {self.label} referred to blob sha256:{digest}, but the bytes it wrote hash to "
                    f"sha256:{hasher.hexdigest()}; it must store blobs with context.blobs.put",
                    details={"plugin": self.label, "digest": f"sha256:{digest}"},
                )
            target = _shard(self.store, digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        finally:
            with contextlib.suppress(OSError):
                (self.inbox / "sha256" / digest[:2] / digest[2:]).unlink()


def _open_in(root: Path, parts: Sequence[str]) -> int | None:
    """Open ``root/parts…`` for reading without following a symlink the plugin may have planted.

    Returns ``None`` when there is no such regular file.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(root, flags | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        return None
    return file_fd


@dataclass
class SpawnArgs:
    """How to start one sandboxed process."""

    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...] = ()
    preexec: Callable[[], None] | None = None
    cwd: str = "/"


@cache
def _own_addresses() -> frozenset[str]:
    """Addresses this machine answers on (besides loopback), for telling its own API apart."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]).split("%")[0])
    return frozenset(found)


class PluginSandbox:
    """The sandbox of one plugin process: its folders, blobs, egress proxy and limits.

    Args:
        settings: The host's sandbox settings.
        status: What this machine allows (must be sandboxed).
        label: ``name==version``.
        venv: The plugin version's virtualenv.
        grant: What it may do.
        data_dir: Its data folder.
        blob_root: The blob store.
        run_root: Where per-process folders are made (``$SYNTHRAL_HOME/run/plugins``).
        network: What any call of the process may reach (the host's egress policy across
            workspaces), asked at each connection; narrowed here to the hosts it was granted.
        protected: Endpoints it may never reach (the server's API).
    """

    def __init__(
        self,
        settings: SandboxSettings,
        status: SandboxStatus,
        *,
        label: str,
        venv: Path,
        grant: Permissions,
        data_dir: Path,
        blob_root: Path,
        run_root: Path,
        network: Callable[[], NetworkPolicy] | None = None,
        protected: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.settings = settings
        self.status = status
        self.label = label
        self.venv = venv
        self.grant = grant
        self.data_dir = data_dir
        self.blob_root = blob_root
        self.protected = tuple(protected)
        self._network = network or NetworkPolicy.server
        self._policy: tuple[NetworkPolicy, NetworkPolicy] | None = None
        token = f"{os.getpid()}.{label.replace('==', '-')}.{secrets.token_hex(4)}"
        self.folder = run_root / token
        self.view = blob_root / ".sandbox" / token
        self.gate = BlobGate(blob_root, self.view, self.folder / "inbox", label)
        self.refused: deque[str] = deque(maxlen=20)
        self.proxy: AllowListProxy | None = None
        self.cgroup: Cgroup | None = None
        self.memory_mb = grant.memory_mb or settings.memory_mb
        self.cpu = grant.cpu or settings.cpu

    def prepare(self, base_env: Mapping[str, str], runner_args: Sequence[str]) -> SpawnArgs:
        """Make the process's folders, proxy and group, and return how to start it.

        Raises:
            OSError: A folder or the group could not be made.
            ValueError: The venv was changed by what it installed (reinstall it).
        """
        for sub in ("scratch", "inbox", "egress"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.folder.parent.chmod(0o700)
        (self.view / "sha256").mkdir(parents=True, exist_ok=True)
        if self.grant.files != "none":
            self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.grant.network != "none":
            rules = None if self.policy.hosts is None else [self.policy]
            self.proxy = AllowListProxy(
                self.folder / "egress" / "proxy.sock", rules, judge=self._judge, upstream="", on_refused=self._refused
            )
        memory_bytes = self.memory_mb * 1_048_576
        preexec: Callable[[], None] | None = None
        if self.status.cgroups is not None:
            name = self.label.replace("==", "-")
            try:
                self.cgroup = self.status.cgroups.create(
                    name, CgroupLimits(memory_bytes, self.cpu, self.settings.max_processes)
                )
                preexec = self.cgroup.preexec()
            except OSError as exc:
                log.warning("no cgroup for plugin %s (%s); its limits are rlimits only", self.label, exc)
                self.cgroup = None
        plan = SandboxPlan(
            venv=self.venv,
            grant=self.grant,
            data_dir=self.data_dir,
            scratch=self.folder / "scratch",
            blob_root=self.blob_root,
            blob_source=self.view,
            blob_inbox=self.folder / "inbox",
            egress_dir=self.folder / "egress" if self.proxy is not None else None,
            memory_bytes=None if self.cgroup is not None else memory_bytes,
            max_processes=self.settings.max_processes,
        )
        env = sandbox_env(plan, base_env)
        fd = os.memfd_create("synthral-seccomp", 0)
        os.write(fd, _seccomp.base_filter(nested_sandbox=self.grant.nested_sandbox))
        os.lseek(fd, 0, os.SEEK_SET)
        assert self.status.bwrap is not None  # a sandboxed status has found it
        try:
            argv = sandbox_command(plan, bwrap=self.status.bwrap, seccomp_fd=fd, runner_args=runner_args, env=env)
        except BaseException:
            os.close(fd)
            raise
        return SpawnArgs(argv=argv, env={}, pass_fds=(fd,), preexec=preexec)

    def started(self, spawn: SpawnArgs) -> None:
        """The process started: close what only the child needed."""
        for fd in spawn.pass_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.cgroup is not None:
            self.cgroup.spawned()

    def exit_note(self) -> str | None:
        """Why the sandbox stopped the process, when it did (the memory limit)."""
        if self.cgroup is not None and self.cgroup.oom_killed():
            return (
                f"the sandbox stopped it at its memory limit of {self.memory_mb} MB; the plugin must use less, or "
                "declare memory_mb and be granted it"
            )
        return None

    def close(self) -> None:
        """Remove the process's folders, view, group and proxy (after it exited)."""
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        shutil.rmtree(self.folder, ignore_errors=True)
        shutil.rmtree(self.view, ignore_errors=True)

    def describe(self) -> dict[str, JSONValue]:
        """What ``plugin info`` shows of the sandbox."""
        limits = (
            f"{self.memory_mb} MB, {self.cpu:g} CPU, {self.settings.max_processes} processes ({self.cgroup_kind()})"
        )
        return {"sandbox": "bwrap", "limits": limits, "refusedEgress": list(self.refused)}

    def cgroup_kind(self) -> str:
        """``cgroup v1`` or ``rlimits``: how the limits are held."""
        return f"cgroup v{self.cgroup.version}" if self.cgroup is not None else "rlimits"

    # -- egress --------------------------------------------------------------------------

    @property
    def policy(self) -> NetworkPolicy:
        """The process's network policy now: the host's egress policy narrowed to what it was granted."""
        base = self._network()
        cached = self._policy
        if cached is None or cached[0] is not base:
            cached = (base, self.grant.network_policy(base))
            self._policy = cached
        return cached[1]

    def _refused(self, target: str, reason: str) -> None:
        self.refused.append(f"{target}: {reason}")
        log.warning("plugin %s: egress to %s refused: %s", self.label, target, reason)

    def _judge(self, host: str, port: int, address: str) -> str | None:
        """Why a connection to ``host`` (``address``) is refused, or None.

        Never the server's own API; otherwise as the plugin's network policy says (public
        addresses, loopback in local mode, what the operator allows, addresses it was granted).
        """
        ip = ipaddress.ip_address(address)
        mapped = getattr(ip, "ipv4_mapped", None) or ip
        for protected_host, protected_port in self.protected:
            if port != protected_port:
                continue
            with contextlib.suppress(ValueError):
                target = ipaddress.ip_address(protected_host)
                if mapped == target or (target.is_unspecified and (mapped.is_loopback or mapped.is_unspecified)):
                    return f"{host}:{port} is the server's own API, which plugins may never reach"
            if mapped.is_loopback or mapped.is_unspecified or str(mapped) in _own_addresses():
                return f"{host}:{port} is the server's own API, which plugins may never reach"
        reason = self.policy.refusal(host, ip)
        if reason is None:
            return None
        return (
            f"{host} resolves to {mapped}, a {reason} address plugins may not reach; the operator can allow it with "
            "SYNTHRAL_EGRESS_ALLOW"
        )


def sweep_stale(run_root: Path, blob_root: Path) -> None:
    """Remove the folders of plugin processes whose host process is gone (after a crash)."""
    for parent in (run_root, blob_root / ".sandbox"):
        if not parent.is_dir():
            continue
        for entry in parent.iterdir():
            pid_text = entry.name.split(".", 1)[0]
            if not pid_text.isdigit():
                continue
            try:
                os.kill(int(pid_text), 0)
            except ProcessLookupError:
                shutil.rmtree(entry, ignore_errors=True)
            except PermissionError:
                continue
