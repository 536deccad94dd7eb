"""The host side of the plugin protocol: one connection per plugin process.

An ``asyncio.SubprocessProtocol`` reads frames from the plugin's stdout, matches responses
to pending requests by id, forwards ``$/log`` and ``$/progress`` notifications, keeps the
last lines of stderr to explain a crash, and tolerates junk on the stream. Transport
failures become the SDK's exception types (docs/plugin-protocol.md, section 4).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol, cast

import orjson

from synthral.errors import (
    DatabaseUnavailable,
    FrameTooLarge,
    PluginCrashed,
    PluginError,
    PluginProtocolError,
    SynthralError,
)
from synthral.store.outage import unavailable
from synthral_sdk import AgentStep, CompletionRequest, HostServices, ToolCall
from synthral_sdk import _protocol as proto
from synthral_sdk._framing import FrameSplitter
from synthral_sdk._host import CALL_TOOL_METHOD, COMPLETE_METHOD, RECORD_METHOD
from synthral_sdk.context import EventSink
from synthral_sdk.errors import ProtocolError
from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["RpcConnection", "describe_exit"]

_LOG_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_STDERR_TAIL: Final = 40

ProgressHandler = Callable[[float | None, str], None]


class BlobCarrier(Protocol):
    """Moves blobs across a sandbox's walls (:class:`synthral.plugins.sandbox.BlobGate`)."""

    def hand(self, value: object) -> None:
        """Make the blobs ``value`` refers to readable by the plugin."""

    def ingest(self, value: object) -> None:
        """Move the blobs ``value`` refers to from the plugin's inbox into the store, checked."""

    def forget(self, digest: str) -> None:
        """Stop showing the plugin a blob the host deleted."""


class RpcConnection(asyncio.SubprocessProtocol):
    """JSON-RPC over a plugin process's pipes.

    Args:
        label: ``name==version``, for logs and errors.
        max_frame: Largest frame accepted from or sent to the plugin.
        cancel_grace: Seconds a cancelled request may stay unanswered before
            ``on_stuck`` is called.
        on_stuck: Called when a cancelled call ignores cancellation for too long.
        on_closed: Called once the process has exited and its pipes are drained, before
            the calls still in flight are failed.
    """

    def __init__(
        self,
        label: str,
        max_frame: int,
        cancel_grace: float,
        on_stuck: Callable[[str], None],
        on_closed: Callable[[RpcConnection], None],
    ) -> None:
        self.label = label
        self.log = logging.getLogger(f"synthral.plugin.{label.partition('==')[0]}")
        self.max_frame = max_frame
        self.cancel_grace = cancel_grace
        self.on_stuck = on_stuck
        self.on_closed = on_closed
        self.junk_lines = 0
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL)
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.progress_handlers: dict[int, ProgressHandler] = {}
        self.event_handlers: dict[int, EventSink] = {}
        self.log_scopes: dict[int, dict[str, str]] = {}
        """The execution and node each in-flight call works for, attached to the plugin's log records."""
        self.host_services: dict[int, HostServices] = {}
        """What each in-flight call may ask of the host (protocol 1.1), by its request id."""
        self.blob_gate: BlobCarrier | None = None
        """For a sandboxed process: hands it blobs and takes in the blobs it made."""
        self.exit_note: Callable[[], str | None] | None = None
        """Says why the process was stopped by its sandbox (a limit), for crash messages."""
        self.outages: dict[int, DatabaseUnavailable] = {}
        """Calls during which the database failed while the host answered them, by request id."""
        self._callbacks: set[asyncio.Task[None]] = set()
        self._pending: dict[int, asyncio.Future[JSONValue]] = {}
        self._awaiting_ack: dict[int, asyncio.TimerHandle] = {}
        self._next_id = 1
        self._splitter = FrameSplitter(max_frame, self._on_frame, self._on_oversized)
        self._stderr_buffer = b""
        self._failure: SynthralError | None = None
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None

    # -- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport and the plugin's stdin."""
        self._transport = cast(asyncio.SubprocessTransport, transport)
        self._stdin = cast(asyncio.WriteTransport, self._transport.get_pipe_transport(0))

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        """Frames from stdout, free text from stderr."""
        if fd == 1:
            self._splitter.feed(data)
        else:
            self._on_stderr(data)

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail the calls still in flight: the process is gone."""
        # Called after the process exited *and* its pipes closed, so every answer it wrote
        # has been read by now.
        if self._stderr_buffer:
            self._stderr_line(self._stderr_buffer)
            self._stderr_buffer = b""
        returncode = self._transport.get_returncode() if self._transport else None
        if not self.closed.done():
            self.closed.set_result(returncode)
        note = self.exit_note() if self.exit_note is not None else None  # before on_closed removes the sandbox
        self.on_closed(self)
        failure = self._failure or PluginCrashed(
            f"plugin {self.label} exited ({describe_exit(returncode)}{'; ' + note if note else ''}) with calls in "
            f"flight; the next call starts it again. Last stderr lines:\n{self.stderr_text()}",
            details={"plugin": self.label, "returncode": returncode},
        )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(failure)
        self._pending.clear()
        for handle in self._awaiting_ack.values():
            handle.cancel()
        self._awaiting_ack.clear()
        for task in self._callbacks:
            task.cancel()
        if self._transport is not None:
            self._transport.close()

    # -- sending -------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the process is still connected."""
        return not self.closed.done()

    def request(self, method: str, params: JSONObject) -> tuple[int, asyncio.Future[JSONValue]]:
        """Send a request; return its id and the future its answer resolves.

        Raises:
            FrameTooLarge: The request would exceed the frame limit; nothing was sent.
            PluginCrashed: The process is gone.
        """
        if self._stdin is None or self.closed.done():
            raise PluginCrashed(f"plugin {self.label} is not running", details={"plugin": self.label})
        request_id = self._next_id
        self._next_id += 1
        data = proto.encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        if len(data) > self.max_frame:
            raise FrameTooLarge(
                f"the call to {self.label} is {len(data)} bytes, over the {self.max_frame}-byte frame limit; "
                "pass files and other large data as blob references (BlobStore.put) instead of inline",
                details={"size": len(data), "limit": self.max_frame},
            )
        future: asyncio.Future[JSONValue] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._stdin.write(data)
        return request_id, future

    def notify(self, method: str, params: JSONObject) -> None:
        """Send a notification; silently dropped when the process is gone."""
        if self._stdin is not None and not self.closed.done():
            self._stdin.write(proto.encode(proto.notification(method, params)))

    def cancel(self, request_id: int) -> None:
        """Cancel a request whose caller has given up, and watch that the plugin stops."""
        self._pending.pop(request_id, None)
        self.forget(request_id)
        if self.closed.done():
            return
        self.notify(proto.CANCEL_METHOD, {"id": request_id})
        loop = asyncio.get_running_loop()
        self._awaiting_ack[request_id] = loop.call_later(self.cancel_grace, self._cancel_overdue, request_id)

    def forget(self, request_id: int) -> None:
        """Drop the handlers of a call that has ended."""
        self.progress_handlers.pop(request_id, None)
        self.event_handlers.pop(request_id, None)
        self.host_services.pop(request_id, None)
        self.outages.pop(request_id, None)
        self.log_scopes.pop(request_id, None)

    def fail(self, failure: SynthralError) -> None:
        """Kill the process; calls in flight fail with ``failure``.

        Nothing more it wrote is believed, not even frames already read in the same chunk.
        """
        if self._failure is None:
            self._failure = failure
        self.kill()

    def kill(self) -> None:
        """SIGKILL the process and everything it started."""
        if self._transport is None or self._transport.get_returncode() is not None:
            return
        pid = self._transport.get_pid()
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self._transport.kill()

    def stderr_text(self) -> str:
        """The last lines the plugin wrote to stderr."""
        return "\n".join(self.stderr_tail) or "(nothing)"

    @property
    def pid(self) -> int | None:
        """The process id, while it runs."""
        return self._transport.get_pid() if self._transport else None

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    # -- receiving -----------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        if self._failure is not None:
            return
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self._junk(frame)
            return
        if type(message) is not dict:
            self._junk(frame)
            return
        request_id = message.get("id")
        method = message.get("method")
        if request_id is not None and isinstance(method, str):
            params = message.get("params")
            self._on_plugin_request(request_id, method, params if isinstance(params, dict) else {})
            return
        if request_id is not None:
            future = self._pending.pop(request_id, None)
            if future is None:
                self._late_answer(request_id, message)
                return
            outage = self.outages.get(request_id) if isinstance(request_id, int) else None
            self.forget(request_id)
            if future.done():
                return
            if "result" in message:
                future.set_result(message["result"])
            elif outage is not None:  # the call failed because the host's database did: not the plugin's error
                future.set_exception(outage)
            elif "error" in message:
                future.set_exception(proto.exception_from_error(message["error"]))
            else:
                future.set_exception(
                    PluginProtocolError(
                        f"plugin {self.label} answered request {request_id} with neither result nor error"
                    )
                )
            return
        if isinstance(method, str):
            params = message.get("params")
            self._on_notification(method, params if isinstance(params, dict) else {})
        elif "error" in message:
            error = message["error"]
            self.log.warning("plugin %s reported an error about no request: %s", self.label, str(error)[:500])
        else:
            self._junk(frame)

    def _on_plugin_request(self, request_id: object, method: str, params: JSONObject) -> None:
        """A ``host/*`` request from the plugin, on behalf of one of its calls (protocol 1.1)."""
        task = asyncio.get_running_loop().create_task(self._answer_plugin_request(request_id, method, params))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _answer_plugin_request(self, request_id: object, method: str, params: JSONObject) -> None:
        call = params.get("requestId")
        services = self.host_services.get(call) if isinstance(call, int) else None
        try:
            if services is None:
                raise ProtocolError(
                    f"plugin {self.label} asked {method!r} for request {call!r}, which is not a call of it in flight "
                    "with host services; only a running call may ask the host",
                    details={"rpcCode": proto.INVALID_REQUEST},
                )
            if self.blob_gate is not None:  # a request may refer to blobs the plugin just made
                self.blob_gate.ingest(params)
            if method == COMPLETE_METHOD:
                result = await services.complete(CompletionRequest.model_validate(params.get("request")))
                value: JSONValue = cast(JSONObject, result.model_dump(mode="json"))
            elif method == CALL_TOOL_METHOD:
                answer = await services.call_tool(ToolCall.model_validate(params.get("call")))
                value = cast(JSONObject, answer.model_dump(mode="json"))
            elif method == RECORD_METHOD:
                await services.record(AgentStep.model_validate(params.get("step")))
                value = None
            else:
                raise ProtocolError(f"unknown host method {method!r}", details={"rpcCode": proto.METHOD_NOT_FOUND})
            if self.blob_gate is not None:
                self.blob_gate.hand(value)
            reply = proto.result(cast(int, request_id), value)
        except SynthralError as exc:
            reply = proto.error_for_exception(cast(int, request_id), exc)
        except ValueError as exc:  # pydantic's ValidationError: the plugin sent a malformed request
            reply = proto.error_for_exception(
                cast(int, request_id), ProtocolError(f"malformed {method} request: {exc}"[:2000])
            )
        except Exception as exc:  # a host bug or a database outage: answer anyway, or the plugin would wait for ever
            trouble = unavailable(exc)
            if trouble is not None and isinstance(call, int):
                self.outages[call] = trouble  # the call's end is then an interruption, not the plugin's failure
                error = PluginError(f"the host cannot answer {method} now: {trouble.message}", retryable=True)
            else:
                self.log.exception("answering %s for plugin %s failed", method, self.label)
                error = PluginError(f"the host failed to answer {method}: {type(exc).__name__}: {exc}", retryable=False)
            reply = proto.error_for_exception(cast(int, request_id), error)
        if self._stdin is not None and not self.closed.done():
            self._stdin.write(proto.encode(reply))

    def _late_answer(self, request_id: object, message: JSONObject) -> None:
        handle = self._awaiting_ack.pop(request_id, None) if isinstance(request_id, int) else None
        if handle is not None:
            handle.cancel()  # a cancelled call has stopped: the process is healthy
        else:
            self.log.warning("plugin %s answered unknown request %r", self.label, request_id)
        del message

    def _on_notification(self, method: str, params: JSONObject) -> None:
        if method == proto.LOG_METHOD:
            level = params.get("level")
            message = params.get("message")
            self.log.log(
                _LOG_LEVELS.get(level if isinstance(level, str) else "info", logging.INFO),
                "%s",
                message,
                extra={
                    "plugin": self.label,
                    "request_id": params.get("requestId"),
                    **self.log_scopes.get(params.get("requestId"), {}),  # type: ignore[arg-type]
                },
            )
        elif method == proto.EVENT_METHOD:
            request_id = params.get("requestId")
            sink = self.event_handlers.get(request_id) if isinstance(request_id, int) else None
            kind = params.get("kind")
            data = params.get("data")
            if sink is not None and isinstance(kind, str) and isinstance(data, dict):
                if self.blob_gate is not None:
                    try:
                        self.blob_gate.ingest(data)
                    except SynthralError as exc:
                        self.log.warning("plugin %s sent an event with a bad blob: %s", self.label, exc.message)
                        return
                sink(kind, data)
        elif method == proto.PROGRESS_METHOD:
            request_id = params.get("requestId")
            handler = self.progress_handlers.get(request_id) if isinstance(request_id, int) else None
            if handler is not None:
                progress = params.get("progress")
                message = params.get("message")
                handler(
                    float(progress) if isinstance(progress, int | float) else None,
                    message if isinstance(message, str) else "",
                )

    def _junk(self, frame: bytes) -> None:
        self.junk_lines += 1
        self.log.warning("plugin %s wrote a line that is not protocol JSON (ignored): %r", self.label, frame[:200])

    def _on_oversized(self, size: int) -> None:
        self.log.error("plugin %s sent a %d-byte frame over the %d-byte limit", self.label, size, self.max_frame)
        self.fail(
            PluginProtocolError(
                f"plugin {self.label} sent a {size}-byte frame, over the {self.max_frame}-byte limit; it was stopped "
                "and the next call starts it again. Plugins must return large data as blob references",
                details={"plugin": self.label, "size": size, "limit": self.max_frame},
            )
        )

    def _on_stderr(self, data: bytes) -> None:
        data = self._stderr_buffer + data
        *lines, self._stderr_buffer = data.split(b"\n")
        for line in lines:
            self._stderr_line(line)
        if len(self._stderr_buffer) > 65536:
            self._stderr_line(self._stderr_buffer)
            self._stderr_buffer = b""

    def _stderr_line(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip()
        if text:
            self.stderr_tail.append(text[:2000])
            self.log.info("%s", text, extra={"plugin": self.label, "stream": "stderr"})

    def _cancel_overdue(self, request_id: int) -> None:
        if self._awaiting_ack.pop(request_id, None) is None:
            return
        self.on_stuck(
            f"plugin {self.label} kept running call {request_id} {self.cancel_grace:g} s after it was cancelled; "
            "the process was restarted. Long loops in plugin code should check context.cancelled"
        )


def describe_exit(returncode: int | None) -> str:
    """'exit status 3' or 'killed by SIGKILL', for messages."""
    if returncode is None:
        return "status unknown"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"
