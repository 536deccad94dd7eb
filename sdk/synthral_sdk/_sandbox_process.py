"""Driving a sandboxed process: its output capped, its wall clock and CPU time limited.

Shared by the runtimes that run a native interpreter in an OS sandbox (bubblewrap,
gVisor...). The sandbox itself is the runtime's; this module only watches the process it
started and kills it when a limit is reached.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from synthral_sdk._runtime import CodeRequest, LimitName
from synthral_sdk.context import Context
from synthral_sdk.errors import Cancelled

__all__ = ["Driven", "drive", "tree_cpu_seconds"]

TICKS: Final = os.sysconf("SC_CLK_TCK")
POLL: Final = 0.05


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by a process and every process below it (live ones and the reaped)."""
    total = 0
    stack = [pid]
    seen: set[int] = set()
    while stack and len(seen) < 4096:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        stack += _children(current)
    return total / TICKS


@dataclass
class Driven:
    """What the runtime observed of a sandboxed process."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    stdout_exceeded: bool = False
    stderr_exceeded: bool = False
    limit: LimitName | None = None
    returncode: int = 0
    duration_ms: float = 0.0
    cpu_s: float = 0.0


def drive(
    process: subprocess.Popen[bytes],
    request: CodeRequest,
    context: Context,
    *,
    kill: Callable[[], None] | None = None,
    cpu: Callable[[], float] | None = None,
) -> Driven:
    """Read the process's stdout and stderr until it ends or a limit is reached, then reap it.

    Args:
        process: Started with ``stdout`` and ``stderr`` as pipes.
        request: Its limits: ``timeout_s``, ``cpu_limit``, ``output_bytes``.
        context: The call; cancelling it kills the process and raises ``Cancelled``.
        kill: Stops the whole sandbox (default: ``process.kill``).
        cpu: CPU seconds the sandbox has used so far (default: the process tree's).

    Raises:
        Cancelled: The call was cancelled.
    """
    stop = kill or process.kill
    measure = cpu or (lambda: tree_cpu_seconds(process.pid))
    driven = Driven()
    started = time.perf_counter()
    deadline = started + request.timeout_s
    names: dict[int, str] = {}
    last_cpu = 0.0
    next_probe = started
    with selectors.DefaultSelector() as selector:
        for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
            if stream is not None:
                os.set_blocking(stream.fileno(), False)
                selector.register(stream.fileno(), selectors.EVENT_READ)
                names[stream.fileno()] = name
        while selector.get_map():
            now = time.perf_counter()
            if now >= deadline:
                driven.limit = "timeout"
                break
            if context.cancelled:
                stop()
                _reap(process)
                raise Cancelled()
            if now >= next_probe:
                last_cpu = max(last_cpu, measure())
                next_probe = now + POLL
                if last_cpu > request.cpu_limit:
                    driven.limit = "cpu"
                    break
            for key, _ in selector.select(min(POLL, deadline - now)):
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                if not _keep(driven, names[key.fd], chunk, request.output_bytes):
                    driven.limit = "output"
                    break
            if driven.limit is not None:
                break
    if driven.limit is not None:
        stop()
    else:
        while _poll(process) is None:  # the output is closed; the process may still run
            if time.perf_counter() >= deadline:
                driven.limit = "timeout"
                stop()
                break
            time.sleep(0.005)
    usage_cpu = _reap(process)
    driven.returncode = process.returncode if process.returncode is not None else -9
    driven.duration_ms = (time.perf_counter() - started) * 1000
    driven.cpu_s = max(last_cpu, usage_cpu)
    if driven.limit is None and driven.cpu_s > request.cpu_limit:
        driven.limit = "cpu"
    return driven


def _keep(driven: Driven, name: str, chunk: bytes, limit: int) -> bool:
    buffer = driven.stdout if name == "stdout" else driven.stderr
    room = limit - len(buffer)
    if len(chunk) > room:
        buffer += chunk[: max(room, 0)]
        setattr(driven, f"{name}_exceeded", True)
        return False
    buffer += chunk
    return True


_USAGE: dict[int, float] = {}


def _poll(process: subprocess.Popen[bytes]) -> int | None:
    """The exit status if the process has ended (reaping it, keeping its CPU time), else None."""
    if process.returncode is not None:
        return process.returncode
    try:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
    except ChildProcessError:
        process.returncode = -9
        return process.returncode
    if pid == 0:
        return None
    process.returncode = os.waitstatus_to_exitcode(status)
    _USAGE[process.pid] = usage.ru_utime + usage.ru_stime
    return process.returncode


def _reap(process: subprocess.Popen[bytes]) -> float:
    """Wait for the process; return the CPU seconds it and its reaped children used."""
    if process.returncode is None:
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except ChildProcessError:
            process.returncode = -9
        else:
            process.returncode = os.waitstatus_to_exitcode(status)
            _USAGE[process.pid] = usage.ru_utime + usage.ru_stime
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.close()
    return _USAGE.pop(process.pid, 0.0)
