"""Seccomp filters for plugin sandboxes, assembled as classic BPF without libseccomp.

Two filters guard a sandboxed plugin process (docs/plugin-security.md):

- the *base* filter, which bubblewrap installs before it starts the interpreter: system
  calls a plugin never needs and that kernel escapes go through fail with ``EPERM``
  (namespaces and mounts unless the plugin makes sandboxes of its own, ``ptrace``, ``bpf``,
  ``io_uring``, kernel keyrings, modules...);
- the *no-subprocess* filter, which the sandbox's launcher adds before any plugin code runs
  when the plugin may not start programs: ``execve``, ``fork`` and every ``clone`` that is
  not a thread fail with ``EPERM``.

Filters stack: a process can add filters, never remove one. The programs are built for
x86-64 and AArch64; a system call made through another ABI (32-bit x86 on x86-64, x32)
fails too. :func:`supported` says whether this machine is one of those.
"""

from __future__ import annotations

import errno
import platform
import struct
from collections.abc import Iterable
from typing import Final

__all__ = ["base_filter", "no_subprocess_filter", "supported"]

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR: Final = 0
_ARCH: Final = 4
_ARG0_LOW: Final = 16  # both architectures are little-endian

_LD_W_ABS: Final = 0x20
_JEQ_K: Final = 0x15
_JGE_K: Final = 0x35
_JSET_K: Final = 0x45
_RET_K: Final = 0x06

_ALLOW: Final = 0x7FFF0000
_ERRNO: Final = 0x00050000
_X32_BIT: Final = 0x40000000

_CLONE_THREAD: Final = 0x00010000
_CLONE_NAMESPACES: Final = 0x7E020000  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET

_ARCHES: Final = {
    "x86_64": 0xC000003E,
    "aarch64": 0xC00000B7,
}

# Numbers from the kernel's unistd headers (x86-64: asm/unistd_64.h; AArch64: asm-generic/unistd.h).
_SYSCALLS: Final[dict[str, dict[str, int]]] = {
    "x86_64": {
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
        "pidfd_getfd": 438, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323, "keyctl": 250,
        "add_key": 248, "request_key": 249, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "syslog": 103, "quotactl": 179, "quotactl_fd": 443, "lookup_dcookie": 212, "open_by_handle_at": 304,
        "name_to_handle_at": 303, "iopl": 172, "ioperm": 173, "settimeofday": 164, "clock_settime": 227,
        "clock_adjtime": 305, "adjtimex": 159, "vhangup": 153, "nfsservctl": 180, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "clone": 56, "clone3": 435, "execve": 59,
        "execveat": 322, "fork": 57, "vfork": 58,
    },
    "aarch64": {
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "pidfd_getfd": 438, "perf_event_open": 241, "bpf": 280, "userfaultfd": 282, "keyctl": 219,
        "add_key": 217, "request_key": 218, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "syslog": 116, "quotactl": 60, "quotactl_fd": 443, "lookup_dcookie": 18, "open_by_handle_at": 265,
        "name_to_handle_at": 264, "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266,
        "adjtimex": 171, "vhangup": 58, "nfsservctl": 42, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "clone": 220, "clone3": 435, "execve": 221, "execveat": 281,
    },
}  # fmt: skip

NAMESPACE_SYSCALLS: Final = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
)  # fmt: skip
"""Denied unless the plugin makes sandboxes of its own: the sandbox's shape is fixed before it runs."""

KERNEL_SYSCALLS: Final = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "perf_event_open", "bpf",
    "userfaultfd", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "quotactl_fd",
    "lookup_dcookie", "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "vhangup", "nfsservctl",
    # io_uring performs operations the filter never sees.
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)  # fmt: skip
"""Always denied: inspecting other processes, changing the kernel, bypassing the filter."""


def _machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def supported() -> bool:
    """Whether filters can be built for this machine's architecture."""
    return _machine() in _ARCHES


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def _ret(value: int) -> bytes:
    return _insn(_RET_K, 0, 0, value)


def _deny(numbers: Iterable[int], error: int = errno.EPERM) -> bytes:
    """``if nr == n: return ERRNO`` for each number (the accumulator holds the number)."""
    program = b""
    for number in sorted(set(numbers)):
        program += _insn(_JEQ_K, 0, 1, number) + _ret(_ERRNO | error)
    return program


def _prologue(machine: str) -> bytes:
    """Refuse other ABIs, then load the system call number."""
    program = _insn(_LD_W_ABS, 0, 0, _ARCH) + _insn(_JEQ_K, 1, 0, _ARCHES[machine]) + _ret(_ERRNO | errno.EPERM)
    program += _insn(_LD_W_ABS, 0, 0, _NR)
    if machine == "x86_64":  # x32 system calls carry this bit and share the architecture tag
        program += _insn(_JGE_K, 0, 1, _X32_BIT) + _ret(_ERRNO | errno.EPERM)
    return program


def _clone_check(number: int, refused_if_set: int | None, refused_if_clear: int | None) -> bytes:
    """For ``clone``: refuse when a ``refused_if_set`` flag is set or ``refused_if_clear`` is clear, else allow.

    Other system calls jump past the check with the number still loaded.
    """
    body = _insn(_LD_W_ABS, 0, 0, _ARG0_LOW)
    if refused_if_set is not None:
        body += _insn(_JSET_K, 0, 1, refused_if_set) + _ret(_ERRNO | errno.EPERM)
    if refused_if_clear is not None:
        body += _insn(_JSET_K, 1, 0, refused_if_clear) + _ret(_ERRNO | errno.EPERM)
    body += _ret(_ALLOW)
    return _insn(_JEQ_K, 0, len(body) // 8, number) + body


def base_filter(*, nested_sandbox: bool = False) -> bytes:
    """The filter bubblewrap installs: kernel escapes always, namespaces unless ``nested_sandbox``.

    Raises:
        RuntimeError: This architecture has no syscall table here (see :func:`supported`).
    """
    machine = _machine()
    if machine not in _ARCHES:
        raise RuntimeError(f"no seccomp filter for the {machine} architecture; only x86_64 and aarch64")
    table = _SYSCALLS[machine]
    denied = [table[name] for name in KERNEL_SYSCALLS if name in table]
    if not nested_sandbox:
        denied += [table[name] for name in NAMESPACE_SYSCALLS]
    program = _prologue(machine) + _deny(denied)
    # clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc fall back to clone.
    program += _deny([table["clone3"]], errno.ENOSYS)
    if not nested_sandbox:
        program += _clone_check(table["clone"], _CLONE_NAMESPACES, None)
    return program + _ret(_ALLOW)


def no_subprocess_filter() -> bytes:
    """The filter that stops a process from starting programs or child processes; threads still start.

    Raises:
        RuntimeError: This architecture has no syscall table here (see :func:`supported`).
    """
    machine = _machine()
    if machine not in _ARCHES:
        raise RuntimeError(f"no seccomp filter for the {machine} architecture; only x86_64 and aarch64")
    table = _SYSCALLS[machine]
    names = ("execve", "execveat", "fork", "vfork")
    program = _prologue(machine) + _deny(table[name] for name in names if name in table)
    program += _deny([table["clone3"]], errno.ENOSYS)
    program += _clone_check(table["clone"], None, _CLONE_THREAD)
    return program + _ret(_ALLOW)
