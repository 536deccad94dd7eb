"""Instances of CPython-on-WASI: a fork server that has loaded the module, and the instances it forks.

The fork server (``python -m synthral_code_wasi._worker MODULE FD``) loads wasmtime and the
precompiled module once, then waits on the Unix socket it was given (``FD``) for requests to
start an instance: settings as JSON, with the instance's stdin and stdout as file
descriptors. It forks; the child sets up the instance (the run's scratch and control
folders preopened, package folders read-only, the memory limit) and lets CPython start,
which then waits for the run's request on stdin. The child writes the guest's output to
stdout as frames: ``O``/``E`` + 4-byte length + bytes for the guest's stdout/stderr, and one
``X`` + length + JSON when the instance has finished (with the CPU seconds it used). The
parent enforces the wall-clock and CPU limits and the output caps by killing the child;
a child never runs a second request. Forking from a loaded server saves each instance the
interpreter start, the wasmtime import and the module load.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import socket
import struct
import sys
from typing import Any, Final

import wasmtime

from synthral_sdk.sandbox import PYTHON_BOOTSTRAP

FRAME: Final = struct.Struct(">cI")
GUEST_ENV: Final = (("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUTF8", "1"), ("HOME", "/scratch"), ("TMPDIR", "/scratch"))
_PR_SET_PDEATHSIG: Final = 1


def _frame(kind: bytes, data: bytes) -> None:
    view = memoryview(FRAME.pack(kind, len(data)) + data)
    while view:
        view = view[os.write(1, view) :]


def _forward(kind: bytes) -> Any:
    def write(data: bytes) -> None:
        _frame(kind, data)

    return write


def die_with_parent() -> None:
    """Be killed when the parent process dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_instance(engine: wasmtime.Engine, module: wasmtime.Module, settings: dict[str, Any]) -> None:
    """Start CPython in a fresh store, let it run the request it reads, and report how it ended."""
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_limits(memory_size=int(settings["memory_bytes"]))
    wasi = wasmtime.WasiConfig()
    # -S: no site module (nothing to find in WASI, and a quarter of the start-up)
    wasi.argv = ["python", "-I", "-S", "-c", PYTHON_BOOTSTRAP, "-", "/.synthral/outcome.json"]
    wasi.env = list(GUEST_ENV)
    wasi.inherit_stdin()
    wasi.stdout_custom = _forward(b"O")
    wasi.stderr_custom = _forward(b"E")
    wasi.preopen_dir(settings["scratch"], "/scratch")
    wasi.preopen_dir(settings["control"], "/.synthral")
    for index, folder in enumerate(settings["packages"]):
        wasi.preopen_dir(folder, f"/packages/{index}", fs_mutable=False)
    store.set_wasi(wasi)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    finished: dict[str, object] = {"exit_code": 0, "trap": None}
    try:
        start(store)  # type: ignore[operator]
    except wasmtime.ExitTrap as exc:
        finished["exit_code"] = exc.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
        finished["exit_code"] = 134
        finished["trap"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    usage = resource.getrusage(resource.RUSAGE_SELF)
    finished["cpu_s"] = usage.ru_utime + usage.ru_stime
    _frame(b"X", json.dumps(finished).encode())


def serve(module_path: str, control_fd: int) -> int:
    """The fork server's loop: one instance per request on the control socket, until it closes.

    The server has no death signal of its own (it would fire when the thread that started it
    ends, not the plugin): it ends when the plugin's end of the socket closes, which the
    kernel does when the plugin dies. Its instances die with it.
    """
    engine = wasmtime.Engine(wasmtime.Config())
    module = wasmtime.Module.deserialize_file(engine, module_path)
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the instances; the parent never waits
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 2)
        except OSError:
            return 0
        if not message:
            return 0
        settings = json.loads(message)
        pid = os.fork()
        if pid == 0:
            try:
                die_with_parent()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                control.close()
                os.dup2(fds[0], 0)
                os.dup2(fds[1], 1)
                log = os.open(settings["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(log, 2)
                for fd in (*fds, log):
                    os.close(fd)
                run_instance(engine, module, settings)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        control.sendall(json.dumps({"pid": pid}).encode() + b"\n")


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2])))
