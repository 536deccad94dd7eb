"""The plugin side of the protocol: ``python -m synthral_sdk.runner [--dist NAME]``.

Loads a plugin's entry points into a pluggy PluginManager in the plugin's own venv and
serves its capabilities over JSON-RPC 2.0 on stdin/stdout, as docs/plugin-protocol.md
describes. The host starts it; an author can start it by hand to debug a plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import logging
import os
import stat
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, cast

import orjson

from synthral_sdk import _protocol as proto
from synthral_sdk._framing import DEFAULT_MAX_FRAME, FrameSplitter
from synthral_sdk._host import HOST_METHODS, RpcHost
from synthral_sdk._json import JSONObject, JSONValue
from synthral_sdk._plugin_set import (
    CapabilityEntry,
    EntryPointRef,
    catalog,
    collect_capabilities,
    discover_entry_points,
    load_entry_points,
    new_plugin_manager,
)
from synthral_sdk._tracing import trace_parent
from synthral_sdk._version import __version__
from synthral_sdk.blobs import BlobStore
from synthral_sdk.context import CancelToken, Context
from synthral_sdk.errors import (
    Cancelled,
    DeadlineExceeded,
    FrameTooLarge,
    IncompatiblePlugin,
    PluginError,
    PluginLoadError,
    PluginUnavailable,
    SynthralError,
    UnknownCapability,
)
from synthral_sdk.masking import secret_forms
from synthral_sdk.network import NetworkPolicy

__all__ = ["main"]

_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
MAX_TRACEBACK: Final = 16 * 1024
"""Characters of an unexpected exception's traceback sent with the error (its end is kept)."""
_current_request: contextvars.ContextVar[int | None] = contextvars.ContextVar("synthral_request", default=None)


def _take_stdout() -> int:
    """Keep the real stdout for the protocol and point fd 1 and ``sys.stdout`` at stderr.

    Done before any plugin code is imported, so nothing a plugin prints (or a child process
    it starts writes) can reach the protocol stream.
    """
    sys.stdout.flush()
    protocol_fd = os.dup(1)  # not inheritable: child processes never get it
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol_fd


class _Redactor:
    """Replaces the secret values of running calls, and their encodings, with ``***`` in outgoing text."""

    def __init__(self) -> None:
        self._active: dict[int, tuple[str, ...]] = {}

    def add(self, request_id: int, secrets: tuple[str, ...]) -> None:
        forms = {form for secret in secrets for form in secret_forms(secret)}
        if forms:
            self._active[request_id] = tuple(sorted(forms, key=len, reverse=True))  # a form inside another: whole

    def remove(self, request_id: int) -> None:
        self._active.pop(request_id, None)

    def __call__(self, text: str) -> str:
        for values in list(self._active.values()):
            for value in values:
                text = text.replace(value, "***")
        return text


class _HostLogHandler(logging.Handler):
    """Sends log records to the host as ``$/log`` notifications."""

    def __init__(self, runner: _Runner) -> None:
        super().__init__()
        self._runner = runner

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("asyncio"):
            return
        try:
            message = self._runner.redact(self.format(record))
        except Exception:  # noqa: BLE001 -- a logging failure must not break the call
            message = str(record.msg)
        level = "debug" if record.levelno < logging.INFO else logging.getLevelName(record.levelno).lower()
        params: JSONObject = {
            "level": level if level in _LEVELS else "error",
            "logger": record.name,
            "message": message[:65536],
        }
        request_id = _current_request.get()
        if request_id is not None:
            params["requestId"] = request_id
        self._runner.notify(proto.LOG_METHOD, params)


class _Runner:
    def __init__(self, protocol_fd: int, dist: str | None) -> None:
        self._protocol_fd = protocol_fd
        self._dist = dist
        self._max_frame = DEFAULT_MAX_FRAME
        self._initialized = False
        self._shutting_down = False
        self._capabilities: dict[str, CapabilityEntry] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancel_events: dict[int, CancelToken] = {}
        self._loggers: dict[str, logging.Logger] = {}
        self._expired: set[int] = set()
        self._host_methods: frozenset[str] = frozenset()
        self._host_calls: dict[int, asyncio.Future[JSONValue]] = {}
        self._next_host_id = 1
        self._blobs = BlobStore(
            os.environ.get("SYNTHRAL_BLOB_ROOT") or Path.home() / ".synthral" / "blobs",
            inbox=os.environ.get("SYNTHRAL_BLOB_INBOX") or None,  # set in the host's sandbox
        )
        data_dir = os.environ.get("SYNTHRAL_PLUGIN_DATA")
        self._data_dir = Path(data_dir) if data_dir else None
        self._pm = new_plugin_manager()
        self.redact = _Redactor()
        self._loop: asyncio.AbstractEventLoop
        self._loop_thread = 0
        self._transport: asyncio.WriteTransport
        self._done: asyncio.Future[int]

    # -- output ------------------------------------------------------------------------

    def _write(self, message: JSONObject) -> None:
        data = proto.encode(message)
        if len(data) > self._max_frame:
            request_id = message.get("id")
            if "method" in message or not isinstance(request_id, int):
                return  # an oversized notification is dropped rather than sent
            exc = FrameTooLarge(
                f"the answer is {len(data)} bytes, over the {self._max_frame}-byte frame limit; "
                "return large data as blob references (context.blobs.put) instead of inline",
                details={"size": len(data), "limit": self._max_frame},
            )
            data = proto.encode(proto.error_for_exception(request_id, exc))
        self._transport.write(data)

    def send(self, message: JSONObject) -> None:
        """Write a message from any thread."""
        if threading.get_ident() == self._loop_thread:
            self._write(message)
        else:
            self._loop.call_soon_threadsafe(self._write, message)

    def notify(self, method: str, params: JSONObject) -> None:
        self.send(proto.notification(method, params))

    # -- input -------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self._write(proto.protocol_error(None, proto.PARSE_ERROR, f"frame is not JSON: {frame[:200]!r}"))
            return
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            self._write(proto.protocol_error(None, proto.INVALID_REQUEST, "not a JSON-RPC 2.0 message object"))
            return
        method = message.get("method")
        request_id = message.get("id")
        params = message.get("params", {})
        if not isinstance(method, str):
            self._on_response(request_id, message)
            return
        if not isinstance(params, dict):
            if request_id is not None:
                self._write(proto.protocol_error(request_id, proto.INVALID_PARAMS, "params must be an object"))
            return
        if request_id is None:
            self._on_notification(method, params)
        elif not isinstance(request_id, int):
            self._write(proto.protocol_error(None, proto.INVALID_REQUEST, "request ids must be integers"))
        else:
            self._on_request(request_id, method, params)

    def _on_response(self, request_id: object, message: JSONObject) -> None:
        """The host's answer to one of our ``host/*`` requests (1.1)."""
        future = self._host_calls.pop(request_id, None) if isinstance(request_id, int) else None
        if future is None or future.done():
            return  # the call that asked has ended (cancelled): nobody waits for it
        if "result" in message:
            future.set_result(message["result"])
        else:
            future.set_exception(proto.exception_from_error(message.get("error")))

    async def host_request(self, method: str, params: JSONObject) -> JSONValue:
        """Send a request to the host and wait for its answer (on the loop's thread)."""
        if method not in self._host_methods:
            raise PluginUnavailable(
                f"the host did not offer '{method}' in 'initialize'; it speaks an older protocol. Upgrade the host "
                f"to one speaking plugin protocol {proto.PROTOCOL_VERSION}",
                retryable=False,
            )
        request_id = self._next_host_id
        self._next_host_id += 1
        future: asyncio.Future[JSONValue] = self._loop.create_future()
        self._host_calls[request_id] = future
        try:
            self._write(proto.request(request_id, method, params))
            return await future
        finally:
            self._host_calls.pop(request_id, None)

    def _on_oversized(self, size: int) -> None:
        exc = FrameTooLarge(
            f"a {size}-byte frame exceeds the {self._max_frame}-byte limit and was discarded",
            details={"size": size, "limit": self._max_frame},
        )
        self._write(proto.error_for_exception(None, exc))

    def _on_notification(self, method: str, params: JSONObject) -> None:
        if method == proto.CANCEL_METHOD:
            target = params.get("id")
            if isinstance(target, int):
                self._cancel(target)

    def _on_request(self, request_id: int, method: str, params: JSONObject) -> None:
        if method == "initialize":
            self._initialize(request_id, params)
        elif not self._initialized:
            self._write(proto.protocol_error(request_id, proto.NOT_INITIALIZED, "send 'initialize' first"))
        elif method == "invoke":
            if self._shutting_down:
                exc = PluginUnavailable("the plugin is shutting down; retry the call")
                self._write(proto.error_for_exception(request_id, exc))
                return
            task = self._loop.create_task(self._invoke(request_id, params))
            self._tasks[request_id] = task
            task.add_done_callback(lambda done: self._answer_if_never_started(request_id, done))
        elif method == "ping":
            self._write(proto.result(request_id, {}))
        elif method == "shutdown":
            self._shutting_down = True  # now: an end of stdin read with it must not cut the grace short
            self._loop.create_task(self._shutdown(request_id, params))
        else:
            self._write(proto.protocol_error(request_id, proto.METHOD_NOT_FOUND, f"unknown method '{method}'"))

    # -- methods -----------------------------------------------------------------------

    def _initialize(self, request_id: int, params: JSONObject) -> None:
        version = params.get("protocolVersion")
        if not isinstance(version, str) or proto.protocol_major(version) != proto.protocol_major(
            proto.PROTOCOL_VERSION
        ):
            exc = IncompatiblePlugin(
                f"the host speaks protocol {version!r} but this plugin's SDK {__version__} speaks "
                f"{proto.PROTOCOL_VERSION}; install a release of the plugin built for the host's SDK major",
                details={"supported": [proto.PROTOCOL_VERSION]},
            )
            self._write(proto.error_for_exception(request_id, exc))
            self._finish(3)
            return
        max_frame = params.get("maxFrameBytes")
        if isinstance(max_frame, int) and 1024 <= max_frame < self._max_frame:
            self._max_frame = max_frame
            self._splitter.max_frame = max_frame
        offered = params.get("hostServices")
        if isinstance(offered, list):
            self._host_methods = frozenset(m for m in offered if isinstance(m, str) and m in HOST_METHODS)
        level = params.get("logLevel")
        logging.getLogger().setLevel(_LEVELS.get(level if isinstance(level, str) else "info", logging.INFO))
        try:
            raw_eps = params.get("entryPoints")
            if isinstance(raw_eps, list):
                refs = [
                    EntryPointRef(str(cast(dict[str, str], ep)["name"]), str(cast(dict[str, str], ep)["value"]))
                    for ep in raw_eps
                ]
            else:
                refs = discover_entry_points(self._dist)
            if not refs:
                raise PluginLoadError(
                    f"no entry point in group 'synthral.plugins' found for {self._dist or 'any distribution'}; "
                    'declare one in pyproject.toml: [project.entry-points."synthral.plugins"]'
                )
            load_entry_points(self._pm, refs)
            self._pm.hook.synthral_startup(data_dir=self._data_dir)
            self._capabilities = collect_capabilities(self._pm)
            answer: JSONObject = {
                "protocolVersion": proto.PROTOCOL_VERSION,
                "sdkVersion": __version__,
                "plugin": self._plugin_metadata(params),
                "maxFrameBytes": self._max_frame,
                "capabilities": cast(JSONValue, self._catalog(params.get("catalog"))),
            }
        except Exception as exc:  # noqa: BLE001 -- anything the plugin raises is reported, then we exit
            error = exc if isinstance(exc, SynthralError) else PluginLoadError(f"{type(exc).__name__}: {exc}")
            if not isinstance(error, PluginLoadError):
                error = PluginLoadError(error.message, details=error.details)
            self._write(proto.error_for_exception(request_id, error))
            self._finish(3)
            return
        self._initialized = True
        self._write(proto.result(request_id, answer))

    def _catalog(self, mode: object) -> list[JSONObject]:
        if mode == "names":  # the host has the full catalog cached: skip building JSON Schemas
            return [{"name": name, "kind": entry.capability.kind.value} for name, entry in self._capabilities.items()]
        return catalog(self._capabilities)

    def _plugin_metadata(self, params: JSONObject) -> JSONObject:
        given = params.get("plugin")
        if isinstance(given, dict):
            return given  # the host read it from the venv already
        if self._dist is None:
            return {"name": "unknown", "version": "0", "summary": ""}
        from importlib.metadata import distribution  # noqa: PLC0415 -- only without the host's metadata

        meta = distribution(self._dist).metadata
        return {"name": meta["Name"], "version": meta["Version"], "summary": (meta.get_all("Summary") or [""])[0]}

    async def _invoke(self, request_id: int, params: JSONObject) -> None:
        token = _current_request.set(request_id)
        cancel = CancelToken()
        self._cancel_events[request_id] = cancel
        try:
            name = params.get("capability")
            entry = self._capabilities.get(name) if isinstance(name, str) else None
            if entry is None:
                raise UnknownCapability(
                    f"this plugin has no capability {name!r}; it has: {', '.join(sorted(self._capabilities))}",
                    details={"capability": name, "known": [*sorted(self._capabilities)]},
                )
            raw_context = params.get("context")
            ctx = raw_context if isinstance(raw_context, dict) else {}
            raw_secrets = ctx.get("secrets")
            secrets = {str(k): str(v) for k, v in raw_secrets.items()} if isinstance(raw_secrets, dict) else {}
            self.redact.add(request_id, tuple(secrets.values()))
            timeout_ms = ctx.get("timeoutMs")
            timeout = timeout_ms / 1000 if isinstance(timeout_ms, int | float) and timeout_ms > 0 else None
            context = Context(
                blobs=self._blobs,
                execution_id=_str_or_none(ctx.get("executionId")),
                node_id=_str_or_none(ctx.get("nodeId")),
                attempt=ctx["attempt"] if isinstance(ctx.get("attempt"), int) else 1,  # type: ignore[arg-type]  # checked just before
                idempotency_key=_str_or_none(ctx.get("idempotencyKey")),
                timeout=timeout,
                secrets=secrets,
                log=self._logger(entry.plugin_name),
                progress=lambda progress, message: self.notify(
                    proto.PROGRESS_METHOD, {"requestId": request_id, "progress": progress, "message": message}
                ),
                cancel_event=cancel,
                data_dir=self._data_dir,
                events=lambda kind, data: self.notify(
                    proto.EVENT_METHOD, {"requestId": request_id, "kind": kind, "data": data}
                ),
                host=RpcHost(self.host_request, request_id) if self._host_methods else None,
                network=NetworkPolicy.from_wire(ctx.get("network")),
                traceparent=_str_or_none(ctx.get("traceparent")),
            )
            operation = params.get("operation")
            timer = None
            if timeout is not None:
                timer = self._loop.call_later(timeout, self._expire, request_id)
            try:
                with trace_parent(context.traceparent):
                    output = await entry.capability.call(
                        operation if isinstance(operation, str) else "",
                        params.get("config", {}),
                        params.get("input", {}),
                        context,
                    )
            finally:
                if timer is not None:
                    timer.cancel()
            self._write(proto.result(request_id, {"output": output}))
        except asyncio.CancelledError:
            if request_id in self._expired:
                exc = DeadlineExceeded(
                    f"the call did not finish within its {timeout_ms} ms timeout",
                    details={"timeoutMs": timeout_ms},
                )
                self._write(proto.error_for_exception(request_id, exc))
            else:
                self._write(proto.error_for_exception(request_id, Cancelled(f"request {request_id} was cancelled")))
        except Cancelled as exc:
            self._write(proto.error_for_exception(request_id, exc))
        except SynthralError as exc:
            exc.message = self.redact(exc.message)
            self._write(proto.error_for_exception(request_id, exc))
        except Exception as exc:  # noqa: BLE001 -- answered as a PluginError carrying its traceback
            # An exception the plugin did not mean: its traceback (masked) goes with the error,
            # so the step records where the plugin failed, not only what it said.
            trace = self.redact("".join(traceback.format_exception(exc)))
            error = PluginError(
                self.redact(f"{type(exc).__name__}: {exc}"),
                error_type=type(exc).__name__,
                details={
                    "exception": type(exc).__module__ + "." + type(exc).__qualname__,
                    "traceback": trace if len(trace) <= MAX_TRACEBACK else "…" + trace[-MAX_TRACEBACK:],
                },
            )
            self._write(proto.error_for_exception(request_id, error))
        finally:
            _current_request.reset(token)
            self.redact.remove(request_id)
            self._tasks.pop(request_id, None)
            self._cancel_events.pop(request_id, None)
            self._expired.discard(request_id)

    def _answer_if_never_started(self, request_id: int, task: asyncio.Task[None]) -> None:
        # _invoke removes its id when it runs; an id still mapped to this task belongs to a
        # task cancelled before it started (invoke and $/cancelRequest arrived in one read).
        if self._tasks.get(request_id) is task:
            del self._tasks[request_id]
            self._cancel_events.pop(request_id, None)
            self._write(proto.error_for_exception(request_id, Cancelled(f"request {request_id} was cancelled")))

    def _logger(self, plugin_name: str) -> logging.Logger:
        logger = self._loggers.get(plugin_name)
        if logger is None:
            logger = self._loggers[plugin_name] = logging.getLogger(f"synthral.plugin.{plugin_name}")
        return logger

    def _expire(self, request_id: int) -> None:
        self._expired.add(request_id)
        self._cancel(request_id)

    def _cancel(self, request_id: int) -> None:
        event = self._cancel_events.get(request_id)
        if event is not None:
            event.set()
        task = self._tasks.get(request_id)
        if task is not None and not task.cancelling():
            task.cancel()

    async def _shutdown(self, request_id: int, params: JSONObject) -> None:
        self._shutting_down = True
        grace_ms = params.get("graceMs")
        grace = grace_ms / 1000 if isinstance(grace_ms, int | float) and grace_ms >= 0 else 5.0
        pending = list(self._tasks.values())
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=grace)
            for task in still_running:
                task.cancel()
        try:
            self._pm.hook.synthral_shutdown()
        except Exception:
            logging.getLogger("synthral.runner").exception("synthral_shutdown raised")
        self._write(proto.result(request_id, None))
        self._finish(0)

    # -- lifecycle ---------------------------------------------------------------------

    def _finish(self, status: int) -> None:
        if not self._done.done():
            self._done.set_result(status)

    async def serve(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        threads = int(os.environ.get("SYNTHRAL_RUNNER_THREADS", "8"))
        self._loop.set_default_executor(ThreadPoolExecutor(max_workers=threads, thread_name_prefix="synthral-op"))
        self._done = self._loop.create_future()
        self._splitter = FrameSplitter(self._max_frame, self._on_frame, self._on_oversized)
        stdin_protocol = _StdinProtocol(self._splitter, self._on_eof)
        # The event loop's pipe transports only for pipes and sockets (what the host gives):
        # a file, a terminal or /dev/null (a person running the runner by hand, with stdout
        # redirected) gets plain blocking reads and writes instead. Asked to watch a regular
        # file, uvloop's libuv aborts the process rather than refusing it.
        if _is_pipe(self._protocol_fd):
            self._transport, _ = await self._loop.connect_write_pipe(
                asyncio.Protocol, os.fdopen(self._protocol_fd, "wb", buffering=0, closefd=False)
            )
        else:
            self._transport = _BlockingWriter(self._protocol_fd)
        if _is_pipe(0):
            await self._loop.connect_read_pipe(lambda: stdin_protocol, os.fdopen(0, "rb", buffering=0, closefd=False))
        else:
            threading.Thread(target=_read_blocking, args=(self._loop, stdin_protocol), daemon=True).start()
        status = await self._done
        for task in list(self._tasks.values()):
            task.cancel()
        await self._drain()
        return status

    def _on_eof(self) -> None:
        # The host is gone: stop now (calls in flight are cancelled). After a shutdown request
        # (a file of requests ending with one), the shutdown finishes instead, after its grace.
        if not self._shutting_down:
            self._finish(0)

    async def _drain(self) -> None:
        for _ in range(200):
            if self._transport.get_write_buffer_size() == 0:
                return
            await asyncio.sleep(0.005)


class _StdinProtocol(asyncio.Protocol):
    def __init__(self, splitter: FrameSplitter, on_eof: Callable[[], None]) -> None:
        self._splitter = splitter
        self._on_eof = on_eof

    def data_received(self, data: bytes) -> None:
        self._splitter.feed(data)

    def eof_received(self) -> bool:
        self._on_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_eof()


class _BlockingWriter(asyncio.WriteTransport):
    """Writes straight to a file descriptor that is not a pipe."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def get_write_buffer_size(self) -> int:
        return 0


def _is_pipe(fd: int) -> bool:
    """Whether ``fd`` is a pipe or a socket (an event loop can watch it)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _read_blocking(loop: asyncio.AbstractEventLoop, protocol: _StdinProtocol) -> None:
    while data := os.read(0, 1 << 16):
        loop.call_soon_threadsafe(protocol.data_received, data)
    loop.call_soon_threadsafe(protocol.eof_received)


def _new_loop() -> asyncio.AbstractEventLoop:
    """Return a uvloop loop when installed (a pipe round trip costs a third of asyncio's)."""
    try:
        import uvloop  # noqa: PLC0415 -- optional, and only the runner needs it
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def main(argv: list[str] | None = None) -> None:
    """Serve the plugin until the host shuts it down or closes stdin."""
    parser = argparse.ArgumentParser(prog="python -m synthral_sdk.runner", description=__doc__)
    parser.add_argument("--dist", help="serve only this distribution's entry points")
    args = parser.parse_args(argv)
    protocol_fd = _take_stdout()
    runner = _Runner(protocol_fd, args.dist or os.environ.get("SYNTHRAL_PLUGIN"))
    root = logging.getLogger()
    root.handlers[:] = [_HostLogHandler(runner)]
    root.setLevel(logging.INFO)
    # Not asyncio.run(): it joins the executor's threads, and a synchronous operation that
    # ignores cancellation must not keep the process alive after the host is done with it.
    loop = _new_loop()
    status = loop.run_until_complete(runner.serve())
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
