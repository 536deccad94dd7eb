"""The OS sandbox a plugin process runs in: the bubblewrap command line and the launcher inside it.

Shared by the host, which starts every plugin process this way, and by
:mod:`synthral_sdk.testing`, which runs the conformance suite the same way, so an author
sees a refused permission before publishing. The host adds what only it has: the blob
view and inbox, cgroups, the egress proxy with the SSRF policy (docs/plugin-security.md).

What the process sees, with new user, PID, IPC, UTS, cgroup and network namespaces:

- the system's ``/usr`` (and the ``/bin``, ``/lib`` links into it) and a few files of
  ``/etc``, read-only; of the program folders only the Python interpreter and the programs
  it was granted (all of them with ``subprocesses = "any"``);
- the base Python installation and the plugin's venv, read-only (its interpreter link and
  ``pyvenv.cfg`` are checked first, so nothing a wheel installed runs before the launcher);
- its data folder read-write (``files`` "data" or "paths"), chosen folders as granted,
  its own scratch folder as ``/tmp``, the blob folders it is given;
- no network at all, or with ``network`` granted, a Unix socket to the host's egress proxy
  and a relay on ``127.0.0.1:3128`` inside its namespace that ``HTTP(S)_PROXY`` name.

bubblewrap installs the base seccomp filter before the interpreter starts; the launcher,
the first code to run inside (standard library only), sets the rlimits, adds the
no-subprocess filter when no program was granted, starts the relay, then activates the venv
and runs the SDK's runner.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from synthral_sdk import _seccomp
from synthral_sdk.permissions import Permissions

__all__ = [
    "EGRESS_SOCKET",
    "INBOX_DIR",
    "PROXY_PORT",
    "SandboxPlan",
    "bwrap_problem",
    "find_bwrap",
    "interpreter_of",
    "sandbox_command",
]

PROXY_PORT: Final = 3128
EGRESS_DIR: Final = "/.synthral/egress"
EGRESS_SOCKET: Final = f"{EGRESS_DIR}/proxy.sock"
INBOX_DIR: Final = "/.synthral/blob-inbox"
"""Where a sandboxed plugin writes new blobs; the host checks and moves them into the store."""

_ETC: Final = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ssl", "/etc/ca-certificates",
    "/etc/pki", "/etc/alternatives", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
    "/etc/mime.types", "/etc/fonts", "/etc/hosts",
    "/etc/chromium", "/etc/chromium.d",  # Debian's chromium launcher reads its default flags there
)  # fmt: skip
_PROGRAM_DIRS: Final = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
_TOP_LINKS: Final = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

LAUNCHER: Final = r"""
import json, os, sys
spec = json.loads(sys.argv[1])
import resource
for name, value in spec["rlimits"].items():
    kind = getattr(resource, name)
    hard = resource.getrlimit(kind)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))
if spec["filter"]:
    import ctypes
    program = bytes.fromhex(spec["filter"])
    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _Prog(len(program) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:
        sys.stderr.write("synthral sandbox: no-subprocess filter refused (errno %d)\n" % ctypes.get_errno())
        os._exit(78)
if spec["relay"]:
    import socket, threading
    relay_socket, relay_port = spec["relay"]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", relay_port))
    listener.listen(128)
    def _pump(source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
    def _split(hostport, default):
        if hostport.startswith(b"["):
            end = hostport.find(b"]")
            rest = hostport[end + 1 :]
            return hostport[1:end], (rest[1:] if rest.startswith(b":") else default)
        if hostport.count(b":") == 1:
            return tuple(hostport.split(b":"))
        return hostport, default
    def _local(head):
        # A loopback target that answers inside the sandbox (a server of the plugin's own) stays inside.
        line = head.split(b"\r\n", 1)[0].split(b" ")
        if len(line) < 3:
            return None, None, head
        if line[0].upper() == b"CONNECT":
            host, port = _split(line[1], b"443")
            rewritten = None
        elif line[1].lower().startswith(b"http://"):
            hostport, _, path = line[1][7:].partition(b"/")
            host, port = _split(hostport, b"80")
            rewritten = b" ".join([line[0], b"/" + path, *line[2:]]) + b"\r\n" + head.split(b"\r\n", 1)[1]
        else:
            return None, None, head
        if host not in (b"127.0.0.1", b"localhost", b"::1") or not port.isdigit():
            return None, None, head
        try:
            inside = socket.create_connection(("::1" if host == b"::1" else "127.0.0.1", int(port)), timeout=2)
            inside.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            return None, None, head
        if rewritten is None:
            return inside, b"HTTP/1.1 200 Connection established\r\n\r\n", head.split(b"\r\n\r\n", 1)[1]
        return inside, None, rewritten
    def _serve(client):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    client.close()
                    return
                head += chunk
            upstream, reply, first = _local(head)
            if upstream is None:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(relay_socket)
            if reply:
                client.sendall(reply)
            if first:
                upstream.sendall(first)
        except OSError:
            client.close()
            return
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        _pump(upstream, client)
    def _accept():
        while True:
            client, _ = listener.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_serve, args=(client,), daemon=True).start()
    threading.Thread(target=_accept, name="synthral-egress-relay", daemon=True).start()
import site
site.main()
sys.argv = ["synthral_sdk.runner", *spec["argv"]]
from synthral_sdk.runner import main
main(spec["argv"])
"""
"""``python -I -S -c LAUNCHER SPEC``: the first code a sandboxed plugin process runs."""


@dataclass(frozen=True)
class SandboxPlan:
    """Everything the sandbox of one plugin process is made of.

    Attributes:
        venv: The plugin's virtualenv (read-only).
        grant: What the plugin may do.
        data_dir: Its data folder, read-write when ``grant.files`` allows it.
        scratch: A private folder it sees as ``/tmp``.
        blob_root: Where the plugin is told the blob store is.
        blob_source: The host folder shown at ``blob_root`` read-only (the blobs it was handed);
            ``None`` shows ``blob_root`` itself read-write (tests).
        blob_inbox: A host folder the plugin writes new blobs into (seen at :data:`INBOX_DIR`).
        egress_dir: A host folder holding the egress proxy's socket ``proxy.sock``; ``None``
            when the plugin has no network.
        memory_bytes: The ``RLIMIT_DATA`` of the process; ``None`` when a cgroup limits memory.
        max_processes: The ``RLIMIT_NPROC`` of the process (processes and threads).
        extra_read_only: More folders to show read-only at their own paths (a test run's
            editable sources).
        env: Extra environment variables.
    """

    venv: Path
    grant: Permissions
    data_dir: Path | None
    scratch: Path
    blob_root: Path
    blob_source: Path | None
    blob_inbox: Path | None = None
    egress_dir: Path | None = None
    memory_bytes: int | None = None
    max_processes: int = 512
    extra_read_only: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def find_bwrap(configured: str | None = None) -> str | None:
    """The bubblewrap binary: ``configured``, else ``bwrap`` on the PATH or in /usr/bin."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("bwrap") or (("/usr/bin/bwrap") if os.access("/usr/bin/bwrap", os.X_OK) else None)


@functools.cache
def bwrap_problem(bwrap: str | None) -> str | None:
    """Why plugin processes cannot be sandboxed here, or ``None`` when they can (checked once).

    Starts ``true`` in a sandbox with every namespace a plugin process gets.
    """
    if sys.platform != "linux":
        return f"the OS sandbox uses Linux namespaces; this is {sys.platform}"
    if bwrap is None:
        return "bubblewrap is not installed (Debian and Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap)"
    if not _seccomp.supported():
        return f"no seccomp filter is built for this machine's architecture ({os.uname().machine})"
    true = shutil.which("true") or "/usr/bin/true"
    command = [bwrap, "--unshare-all", "--die-with-parent", *_system_binds(), "--proc", "/proc", "--", true]
    try:
        done = subprocess.run(command, capture_output=True, timeout=30, check=False)
    except OSError as exc:
        return f"{bwrap} does not run: {exc}"
    except subprocess.TimeoutExpired:
        return f"{bwrap} did not finish starting a test sandbox within 30 s"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()[:300]
        return (
            f"bubblewrap cannot create the sandbox's namespaces ({said or f'exit {done.returncode}'}); the kernel must "
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > "
            "0; on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap)"
        )
    return None


def interpreter_of(venv: Path) -> Path:
    """The real interpreter binary a venv runs (its ``bin/python`` link resolved).

    Raises:
        FileNotFoundError: The venv has no interpreter.
    """
    return (venv / "bin" / "python").resolve(strict=True)


def _base_prefix(executable: Path) -> Path:
    """The installation an interpreter belongs to: ``<prefix>/bin/python3.X`` → ``<prefix>``."""
    return executable.parent.parent


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in _TOP_LINKS:
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    return args


def _programs(grant: Permissions, python: Path) -> list[str]:
    """Hide the system's programs except the interpreter and the granted ones."""
    if grant.subprocesses == "any" or grant.unsandboxed:
        return []
    args: list[str] = []
    for folder in _PROGRAM_DIRS:
        real = Path(folder)
        if real.is_dir() and not real.is_symlink():
            args += ["--tmpfs", folder]
    keep = {python}
    for name in grant.subprocesses:
        found = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin")
        if found is not None:
            keep.add(Path(found))
            keep.add(Path(found).resolve())
    for path in sorted(keep):
        if str(path).startswith(tuple(f"{folder}/" for folder in _PROGRAM_DIRS)) and path.exists():
            args += ["--ro-bind", str(path), str(path)]
    for folder in _PROGRAM_DIRS:
        if Path(folder).is_dir() and not Path(folder).is_symlink():
            args += ["--remount-ro", folder]
    return args


def sandbox_command(
    plan: SandboxPlan,
    *,
    bwrap: str,
    seccomp_fd: int,
    runner_args: Sequence[str],
    env: Mapping[str, str],
) -> list[str]:
    """The ``bwrap`` command line that starts the SDK's runner for ``plan``.

    Args:
        plan: The sandbox's contents.
        bwrap: The bubblewrap binary.
        seccomp_fd: An inherited descriptor holding :func:`_seccomp.base_filter`'s program.
        runner_args: Arguments for ``python -m synthral_sdk.runner``.
        env: The environment of the process (nothing else of the caller's is passed).

    Raises:
        ValueError: The venv's interpreter is not the one it was made with (see :func:`check_venv`).
    """
    grant = plan.grant
    python = check_venv(plan.venv)
    prefix = _base_prefix(python)
    args = [
        bwrap,
        "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--unshare-net",
        "--die-with-parent", "--new-session", "--hostname", "synthral-plugin",
        *_system_binds(),
    ]  # fmt: skip
    for etc in _ETC:
        args += ["--ro-bind-try", etc, etc]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    args += _programs(grant, python)
    args += ["--proc", "/proc", "--dev", "/dev", "--bind", str(plan.scratch), "/tmp"]  # noqa: S108 -- the sandbox's own
    if prefix != Path("/usr") and not str(prefix).startswith("/usr/"):
        args += ["--ro-bind", str(prefix), str(prefix)]
    args += ["--ro-bind", str(plan.venv), str(plan.venv)]
    for folder in plan.extra_read_only:
        args += ["--ro-bind", str(folder), str(folder)]
    if plan.data_dir is not None and grant.files in {"data", "paths"}:
        args += ["--bind", str(plan.data_dir), str(plan.data_dir)]
    if grant.files == "paths":
        for shared in grant.paths:
            args += ["--bind" if shared.writable else "--ro-bind", shared.path, shared.path]
    if plan.blob_source is None:
        args += ["--bind", str(plan.blob_root), str(plan.blob_root)]
    else:
        args += ["--ro-bind", str(plan.blob_source), str(plan.blob_root)]
    if plan.blob_inbox is not None:
        args += ["--bind", str(plan.blob_inbox), INBOX_DIR]
    if plan.egress_dir is not None:
        args += ["--ro-bind", str(plan.egress_dir), EGRESS_DIR]
    workdir = plan.data_dir if plan.data_dir is not None and grant.files != "none" else Path("/tmp")  # noqa: S108
    args += ["--chdir", str(workdir), "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--seccomp", str(seccomp_fd), "--"]
    rlimits: dict[str, int] = {"RLIMIT_CORE": 0, "RLIMIT_NPROC": plan.max_processes}
    if plan.memory_bytes is not None:
        rlimits["RLIMIT_DATA"] = plan.memory_bytes
    launcher_spec = {
        "rlimits": rlimits,
        "filter": "" if grant.subprocesses else _seccomp.no_subprocess_filter().hex(),
        "relay": [EGRESS_SOCKET, PROXY_PORT] if plan.egress_dir is not None else None,
        "argv": list(runner_args),
    }
    launch = [str(plan.venv / "bin" / "python"), "-I", "-S", "-c", LAUNCHER, json.dumps(launcher_spec)]
    return args + launch


def sandbox_env(plan: SandboxPlan, base: Mapping[str, str]) -> dict[str, str]:
    """The environment inside: ``base`` with the sandbox's own paths and proxy settings."""
    env = dict(base)
    home = str(plan.data_dir) if plan.data_dir is not None and plan.grant.files != "none" else "/tmp"  # noqa: S108
    env.update({"HOME": home, "TMPDIR": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin"})  # noqa: S108
    if plan.data_dir is None or plan.grant.files == "none":
        env.pop("SYNTHRAL_PLUGIN_DATA", None)
    if plan.blob_inbox is not None:
        env["SYNTHRAL_BLOB_INBOX"] = INBOX_DIR
    if plan.egress_dir is not None:
        url = f"http://127.0.0.1:{PROXY_PORT}"
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            env[key] = url
        env["SYNTHRAL_EGRESS_PROXY"] = EGRESS_SOCKET
    env.update(plan.env)
    return env


def check_venv(venv: Path) -> Path:
    """The base interpreter ``venv`` runs, after checking no wheel replaced it.

    A wheel may install files into a venv's ``bin/`` (``*.data/scripts``) and root
    (``*.data/data``): a ``bin/python`` or a ``pyvenv.cfg`` of its own would run before the
    sandbox's launcher. The venv must still run an interpreter outside itself, the one its
    ``pyvenv.cfg`` names.

    Raises:
        ValueError: It does not; the message says to reinstall.
    """
    link = venv / "bin" / "python"
    problem = None
    try:
        python = interpreter_of(venv)
        home = next(
            (
                value.strip()
                for key, sep, value in (line.partition("=") for line in (venv / "pyvenv.cfg").read_text().splitlines())
                if sep and key.strip() == "home"
            ),
            "",
        )
    except OSError as exc:
        raise ValueError(f"{venv} is not a complete virtualenv ({exc}); reinstall the plugin") from None
    if not link.is_symlink():
        problem = f"{link} is a file, not the link to the interpreter the venv was made with"
    elif python.is_relative_to(venv.resolve()):
        problem = f"{link} points into the venv ({python})"
    elif Path(home).resolve() != python.parent:
        problem = f"pyvenv.cfg names {home!r} as the interpreter's folder, but {link} runs {python}"
    if problem is not None:
        raise ValueError(
            f"the plugin's venv was changed by what it installed: {problem}. Reinstall the plugin; a wheel that "
            "ships its own 'python' or 'pyvenv.cfg' cannot run in the sandbox"
        )
    return python
