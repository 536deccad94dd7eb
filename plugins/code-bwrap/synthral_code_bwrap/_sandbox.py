"""The bubblewrap command line, the seccomp filter and the per-run identity and limits.

Every run gets new user, PID, network, mount, IPC, UTS and cgroup namespaces; a read-only
view of the system's /usr (and the /bin, /lib links into it); a tmpfs /tmp; its own scratch
folder at /scratch and control folder at /.synthral; read-only package folders; no host
environment. A seccomp filter refuses the system calls a sandboxed interpreter never needs
and that kernel escapes go through. When the plugin runs as root, each run also gets a user
id of its own, so the process-count limit counts that run's processes alone and no run can
open another's files even where a path leaks.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import secrets
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyseccomp as seccomp  # type: ignore[import-untyped]  # ctypes bindings without type hints

__all__ = ["DENIED_SYSCALLS", "Identity", "Limits", "bwrap_command", "seccomp_filter"]

DENIED_SYSCALLS: Final = (
    # Namespaces, mounts and root changes: the sandbox's shape is fixed before the code runs.
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    # Inspecting or changing other processes and the kernel.
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "perf_event_open", "bpf",
    "userfaultfd", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl",
    "lookup_dcookie", "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "personality",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup", "nfsservctl",
    # io_uring bypasses the filter for the operations it submits.
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)  # fmt: skip
"""System calls that fail with EPERM inside the sandbox."""

_BPF: bytes | None = None
_BPF_LOCK = threading.Lock()
_PR_SET_PDEATHSIG: Final = 1
_USED_UIDS: set[int] = set()
_UID_LOCK = threading.Lock()


def seccomp_filter() -> bytes:
    """The filter as a BPF program for ``bwrap --seccomp`` (built once with libseccomp)."""
    global _BPF  # noqa: PLW0603 -- built once per process, read by every run
    with _BPF_LOCK:
        if _BPF is None:
            rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
            for name in DENIED_SYSCALLS:
                with contextlib.suppress(OSError, ValueError, RuntimeError):  # not on this architecture
                    rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
            # A new user namespace through clone() would undo the fixed shape too.
            rules.add_rule(
                seccomp.ERRNO(errno.EPERM),
                "clone",
                seccomp.Arg(0, seccomp.MASKED_EQ, 0x10000000, 0x10000000),  # CLONE_NEWUSER
            )
            rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # libc falls back to clone()
            read, write = os.pipe()
            try:
                with os.fdopen(write, "wb") as sink:
                    rules.export_bpf(sink)
                with os.fdopen(read, "rb") as source:
                    _BPF = source.read()
            finally:
                with contextlib.suppress(OSError):
                    os.close(read)
        return _BPF


def filter_fd() -> int:
    """A fresh file descriptor holding the filter, for one bwrap to read."""
    fd = os.memfd_create("synthral-seccomp", 0)
    os.write(fd, seccomp_filter())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _mapped(first: int, count: int) -> bool:
    """Whether user ids ``first`` to ``first + count`` exist here (a host's sandbox maps only its own)."""
    try:
        lines = Path("/proc/self/uid_map").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        inside, _outside, length = (int(part) for part in line.split())
        if inside <= first and first + count <= inside + length:
            return True
    return False


@dataclass(frozen=True)
class Identity:
    """The user a run executes as: its own when the plugin is root, else the plugin's."""

    uid: int
    gid: int
    own: bool

    @classmethod
    def allocate(cls, base: int) -> Identity:
        """A user id no other run in this process is using (random in a 65,536-wide range)."""
        if os.geteuid() != 0 or not _mapped(base, 65536):
            return cls(os.getuid(), os.getgid(), own=False)
        with _UID_LOCK:
            while True:
                uid = base + secrets.randbelow(65536)
                if uid not in _USED_UIDS:
                    _USED_UIDS.add(uid)
                    return cls(uid, uid, own=True)

    def release(self) -> None:
        """The run is over; its user id may be used again."""
        with _UID_LOCK:
            _USED_UIDS.discard(self.uid)


@dataclass(frozen=True)
class Limits:
    """The rlimits a run starts under."""

    memory_bytes: int
    cpu_seconds: int
    processes: int
    file_bytes: int = 256 * 1_048_576
    open_files: int = 256

    def preexec(self, identity: Identity) -> Callable[[], None]:
        """What the child does between fork and exec: limits, then drop to the run's user."""

        def apply() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            for kind, value in (
                (resource.RLIMIT_AS, self.memory_bytes),
                (resource.RLIMIT_CPU, self.cpu_seconds),
                (resource.RLIMIT_FSIZE, self.file_bytes),
                (resource.RLIMIT_NOFILE, self.open_files),
                (resource.RLIMIT_CORE, 0),
            ):
                resource.setrlimit(kind, (value, value))
            if identity.own:
                resource.setrlimit(resource.RLIMIT_NPROC, (self.processes, self.processes))
                os.setgroups([])
                os.setgid(identity.gid)
                os.setuid(identity.uid)
            else:  # the limit counts every process of this user: leave room for those already running
                _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
                wanted = _processes_of(os.getuid()) + self.processes
                resource.setrlimit(resource.RLIMIT_NPROC, (wanted if hard < 0 else min(wanted, hard), hard))
            os.setsid()

        return apply


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                count += os.stat(f"/proc/{entry}").st_uid == uid
    return count


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/localtime"):
        if Path(etc).exists():
            args += ["--ro-bind", etc, etc]
    return args


def bwrap_command(
    *,
    bwrap: str,
    scratch: Path,
    control: Path,
    packages: Sequence[Path],
    seccomp_fd: int,
    env: dict[str, str],
    command: Sequence[str],
) -> list[str]:
    """The whole ``bwrap`` command line for one run."""
    args = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
        *_system_binds(),
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(64 * 1_048_576), "--tmpfs", "/tmp",  # noqa: S108 -- the sandbox's own tmpfs
        "--bind", str(scratch), "/scratch",
        "--bind", str(control), "/.synthral",
    ]  # fmt: skip
    for index, folder in enumerate(packages):
        args += ["--ro-bind", str(folder), f"/packages/{index}"]
    args += ["--chdir", "/scratch", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--seccomp", str(seccomp_fd), "--", *command]
    return args
