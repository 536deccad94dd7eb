"""One supervised process per installed plugin version.

Spawns the runner lazily on the first call, keeps it warm, stops it when idle, restarts it
after a crash with exponential back-off (the first restart is immediate, so the next call
works), applies per-call timeouts and turns cancellation of the caller's task into a
``$/cancelRequest``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast

import synthral_sdk
from synthral import __version__
from synthral.config import SandboxSettings
from synthral.errors import (
    IncompatiblePlugin,
    InvocationTimeout,
    PermissionDenied,
    PluginCrashed,
    PluginStartError,
    SynthralError,
)
from synthral.plugins.rpc import ProgressHandler, RpcConnection, describe_exit
from synthral.plugins.sandbox import PluginSandbox, SpawnArgs, blob_digests, sandbox_status
from synthral_sdk import HostServices
from synthral_sdk import _protocol as proto
from synthral_sdk._framing import DEFAULT_MAX_FRAME
from synthral_sdk._host import HOST_METHODS
from synthral_sdk.context import EventSink
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.permissions import Permissions
from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["PluginProcess", "ProcessOptions", "ProcessState"]

log = logging.getLogger("synthral.plugins")

_PASSED_ENV: Final = ("PATH", "LANG", "TZ", "HOME", "TMPDIR")
_BACKOFF_MAX: Final = 30.0


class ProcessState(enum.StrEnum):
    """Where a plugin process is in its life."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


@dataclass(frozen=True)
class ProcessOptions:
    """How to start one plugin version and how patient to be with it."""

    name: str
    version: str
    dist: str
    python: Path
    entry_points: list[JSONObject]
    blob_root: Path
    data_dir: Path
    start_timeout: float = 20.0
    call_timeout: float = 300.0
    idle_timeout: float = 300.0
    cancel_grace: float = 10.0
    summary: str = ""
    max_frame: int = DEFAULT_MAX_FRAME
    known_capabilities: tuple[str, ...] = ()
    """Names in the cached catalog; when set, starts ask the plugin for names only."""
    env: Mapping[str, str] = field(default_factory=dict)
    grant: Permissions = field(default_factory=Permissions)
    """What the plugin may do; the sandbox enforces it."""
    sandbox: SandboxSettings | None = None
    """How the host confines plugin processes; ``None`` starts it unconfined (SDK tests only)."""
    run_dir: Path | None = None
    """Where the sandbox makes the process's own folders (``$SYNTHRAL_HOME/run/plugins``)."""
    protected: list[tuple[str, int]] = field(default_factory=list)
    """Endpoints the process may never reach (the server's own API); read at each start."""
    network: Callable[[], NetworkPolicy] | None = None
    """What any call of the process may reach (the host's egress policy); asked at each start."""

    @property
    def label(self) -> str:
        """``name==version``."""
        return f"{self.name}=={self.version}"


def backoff_delay(failures: int) -> float:
    """Seconds to wait before restart number ``failures``: 0, 0.5, 1, 2 ... 30."""
    if failures <= 1:
        return 0.0
    return float(min(_BACKOFF_MAX, 0.5 * 2 ** (failures - 2)))


class PluginProcess:
    """A plugin version's runner process and its supervision."""

    def __init__(self, options: ProcessOptions) -> None:
        self.options = options
        self.state = ProcessState.STOPPED
        self.restarts = 0
        self.failures = 0
        self.initialize_answer: JSONObject | None = None
        self.started_at: float | None = None
        self._conn: RpcConnection | None = None
        self._start_lock = asyncio.Lock()
        self._next_start_at = 0.0
        self._last_used = time.monotonic()
        self._idle_task: asyncio.Task[None] | None = None
        self._expected_exit = False
        self._sandbox: PluginSandbox | None = None
        self.unsandboxed_reason: str | None = None
        """Why the current process runs without the sandbox, when it does."""

    @property
    def pid(self) -> int | None:
        """The runner's process id while it runs."""
        return self._conn.pid if self._conn is not None and self._conn.alive else None

    @property
    def junk_lines(self) -> int:
        """Lines of junk the current process wrote to the protocol stream."""
        return self._conn.junk_lines if self._conn is not None else 0

    # -- calls -------------------------------------------------------------------------

    async def invoke(
        self,
        capability: str,
        operation: str,
        *,
        config: JSONValue,
        payload: JSONValue,
        context: JSONObject,
        timeout: float | None = None,
        on_progress: ProgressHandler | None = None,
        on_event: EventSink | None = None,
        host: HostServices | None = None,
    ) -> JSONObject:
        """Call one operation and return its output.

        ``on_event`` receives the events the call emits; ``host`` answers what the call asks
        of the host (protocol 1.1). Both live only as long as the call.

        Raises:
            InvocationTimeout: No answer within ``timeout`` (the plugin is told to cancel).
            PluginCrashed: The process died during the call (retryable).
            PluginStartError: The process could not be started.
            SynthralError: Whatever the plugin answered (config, input, plugin errors...).
        """
        timeout = self.options.call_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = self._conn
        if conn is None or self.state is not ProcessState.RUNNING or not conn.alive:
            conn = await self._ensure_running(deadline)
        remaining = deadline - loop.time()
        context = {**context, "timeoutMs": max(1, int(remaining * 1000))}
        self._check_secrets(context)
        gate = conn.blob_gate
        if gate is not None:  # the blobs it is handed become visible to it, read-only
            gate.hand(config)
            gate.hand(payload)
        request_id, future = conn.request(
            "invoke",
            {"capability": capability, "operation": operation, "config": config, "input": payload, "context": context},
        )
        if on_progress is not None:
            conn.progress_handlers[request_id] = on_progress
        if on_event is not None:
            conn.event_handlers[request_id] = on_event
        if host is not None:
            conn.host_services[request_id] = host
        execution_id, node_id = context.get("executionId"), context.get("nodeId")
        if isinstance(execution_id, str):
            conn.log_scopes[request_id] = {"execution_id": execution_id, "node_id": str(node_id or "")}
        timer = loop.call_later(remaining, self._time_out, conn, request_id, future, timeout)
        try:
            result = await future
        except asyncio.CancelledError:
            conn.cancel(request_id)
            raise
        finally:
            timer.cancel()
            conn.forget(request_id)
            self._last_used = time.monotonic()
        self.failures = 0
        output = cast(JSONObject, cast(JSONObject, result)["output"])
        if gate is not None and blob_digests(output):  # the blobs it made move from its inbox into the store
            await asyncio.to_thread(gate.ingest, output)
        return output

    def _check_secrets(self, context: JSONObject) -> None:
        """The last gate for credentials: a plugin granted none is handed none.

        Raises:
            PermissionDenied: The call carries secrets and the plugin's grant has no ``secrets``.
        """
        if context.get("secrets") and not self.options.grant.secrets:
            names = ", ".join(sorted(cast(dict[str, str], context["secrets"])))
            raise PermissionDenied(
                f"plugin {self.options.label} may not receive credentials (its grant has no 'secrets'), yet this call "
                f"hands it {names}; remove them from the node's 'secrets', or install a release that declares the "
                "credentials it needs and grant them",
                details={"plugin": self.options.label, "secrets": list[JSONValue](names.split(", "))},
            )

    def _time_out(
        self, conn: RpcConnection, request_id: int, future: asyncio.Future[JSONValue], timeout: float
    ) -> None:
        if future.done():
            return
        future.set_exception(
            InvocationTimeout(
                f"plugin {self.options.label} did not answer within {timeout:g} s; the call was cancelled. "
                "Raise the node's timeout if the work is legitimately slow",
                details={"plugin": self.options.label, "timeout": timeout},
            )
        )
        conn.cancel(request_id)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> JSONObject:
        """Start the process now (normally it starts on the first call) and return its catalog answer."""
        loop = asyncio.get_running_loop()
        await self._ensure_running(loop.time() + self.options.start_timeout)
        assert self.initialize_answer is not None  # set by a successful start
        return self.initialize_answer

    async def _ensure_running(self, deadline: float) -> RpcConnection:
        async with self._start_lock:
            if self._conn is not None and self._conn.alive and self.state is ProcessState.RUNNING:
                return self._conn
            loop = asyncio.get_running_loop()
            wait = self._next_start_at - time.monotonic()
            if wait > 0:
                if loop.time() + wait > deadline:
                    raise PluginStartError(
                        f"plugin {self.options.label} crashed {self.failures} times in a row; it restarts in "
                        f"{wait:.1f} s, after this call's deadline. Its last stderr lines:\n{self._stderr()}",
                        details={"plugin": self.options.label, "failures": self.failures},
                    )
                await asyncio.sleep(wait)
            return await self._spawn(deadline)

    async def _spawn(self, deadline: float) -> RpcConnection:
        options = self.options
        loop = asyncio.get_running_loop()
        self.state = ProcessState.STARTING
        options.data_dir.mkdir(parents=True, exist_ok=True)
        conn = RpcConnection(options.label, options.max_frame, options.cancel_grace, self._on_stuck, self._on_exit)
        env = {
            key: value for key, value in os.environ.items() if key in _PASSED_ENV or key.startswith(("LC_", "OTEL_"))
        }
        env.update(
            {
                "SYNTHRAL_BLOB_ROOT": str(options.blob_root),
                "SYNTHRAL_PLUGIN_DATA": str(options.data_dir),
                "SYNTHRAL_PLUGIN": options.dist,
            }
        )
        env.update(options.env)
        started = time.monotonic()
        spawn = self._sandboxed_spawn(env, conn)
        try:
            if spawn is None:
                await loop.subprocess_exec(
                    lambda: conn,
                    str(options.python),
                    "-I",
                    "-m",
                    "synthral_sdk.runner",
                    "--dist",
                    options.dist,
                    env=env,
                    cwd=str(options.data_dir),
                    start_new_session=True,
                )
            else:
                await loop.subprocess_exec(
                    lambda: conn,
                    *spawn.argv,
                    env=spawn.env,
                    cwd=spawn.cwd,
                    start_new_session=True,
                    pass_fds=spawn.pass_fds,
                    preexec_fn=spawn.preexec,
                )
        except OSError as exc:
            self._record_failure()
            self._close_sandbox()
            raise PluginStartError(
                f"could not start plugin {options.label} with {options.python}: {exc}; "
                f"reinstall it with 'synthral plugin install' to rebuild its venv",
                details={"plugin": options.label},
            ) from None
        finally:
            if spawn is not None and self._sandbox is not None:
                self._sandbox.started(spawn)
        self._conn = conn
        self._expected_exit = False
        timeout = max(0.05, min(options.start_timeout, deadline - loop.time()))
        try:
            _, future = conn.request(
                "initialize",
                {
                    "protocolVersion": proto.PROTOCOL_VERSION,
                    "host": {"name": "synthral", "version": __version__},
                    "maxFrameBytes": options.max_frame,
                    "logLevel": "info",
                    "entryPoints": cast(JSONValue, options.entry_points),
                    "plugin": {"name": options.dist, "version": options.version, "summary": options.summary},
                    "catalog": "names" if options.known_capabilities else "full",
                    "hostServices": list(HOST_METHODS),
                },
            )
            answer = cast(JSONObject, await asyncio.wait_for(future, timeout))
        except TimeoutError:
            await _kill_and_wait(conn)
            self._record_failure()
            raise PluginStartError(
                f"plugin {options.label} did not answer 'initialize' within {timeout:g} s and was stopped; "
                f"something at import or in synthral_startup blocks. Last stderr lines:\n{conn.stderr_text()}",
                details={"plugin": options.label, "timeout": timeout},
            ) from None
        except PluginCrashed as exc:
            self._record_failure()
            raise PluginStartError(
                f"plugin {options.label} exited before answering 'initialize' "
                f"({describe_exit(cast(int | None, exc.details.get('returncode')))}). "
                f"Last stderr lines:\n{conn.stderr_text()}",
                details={"plugin": options.label, "returncode": exc.details.get("returncode")},
            ) from None
        except SynthralError:
            await _kill_and_wait(conn)
            self._record_failure()
            raise
        major = proto.protocol_major(str(answer.get("protocolVersion", "")))
        if major != proto.protocol_major(proto.PROTOCOL_VERSION):
            await _kill_and_wait(conn)
            self._record_failure()
            raise IncompatiblePlugin(
                f"plugin {options.label} speaks protocol {answer.get('protocolVersion')!r}, the host "
                f"{proto.PROTOCOL_VERSION}; install a release built for synthral-sdk {synthral_sdk.__version__}",
                details={"plugin": options.label},
            )
        if options.known_capabilities:
            names = {str(item.get("name")) for item in cast(list[JSONObject], answer.get("capabilities", []))}
            if names != set(options.known_capabilities):
                log.warning(
                    "plugin %s now offers %s but was installed offering %s; reinstall it to refresh the catalog",
                    options.label,
                    sorted(names),
                    sorted(options.known_capabilities),
                )
        self.initialize_answer = answer
        self.state = ProcessState.RUNNING
        self.started_at = time.monotonic()
        self._last_used = time.monotonic()
        log.debug("plugin %s started in %.0f ms", options.label, (time.monotonic() - started) * 1000)
        if self._idle_task is None or self._idle_task.done():
            self._idle_task = loop.create_task(self._idle_watch())
        return conn

    def _sandboxed_spawn(self, env: dict[str, str], conn: RpcConnection) -> SpawnArgs | None:
        """How to start the process in its sandbox; ``None`` to start it unconfined.

        Raises:
            PluginStartError: The sandbox is required and impossible here, or it could not be set up.
        """
        options = self.options
        self._close_sandbox()
        self.unsandboxed_reason = None
        if options.sandbox is None:
            self.unsandboxed_reason = "started without the host's sandbox settings"
            return None
        status = sandbox_status(options.sandbox)
        if options.grant.unsandboxed:
            self.unsandboxed_reason = "its grant lets it run unsandboxed"
            return None
        if not status.sandboxed:
            if status.refuses:
                self._record_failure()
                raise PluginStartError(
                    f"plugin {options.label} was not started: {status.describe()}",
                    details={"plugin": options.label, "problem": status.problem},
                )
            self.unsandboxed_reason = status.describe()
            return None
        sandbox = PluginSandbox(
            options.sandbox,
            status,
            label=options.label,
            venv=options.python.parent.parent,
            grant=options.grant,
            data_dir=options.data_dir,
            blob_root=options.blob_root,
            run_root=options.run_dir or options.data_dir.parent / ".run",
            network=options.network,
            protected=list(options.protected),
        )
        try:
            spawn = sandbox.prepare(env, ["--dist", options.dist])
        except (OSError, ValueError) as exc:
            sandbox.close()
            self._record_failure()
            raise PluginStartError(
                f"could not set up the sandbox of plugin {options.label}: {exc}",
                details={"plugin": options.label},
            ) from None
        self._sandbox = sandbox
        conn.blob_gate = sandbox.gate
        conn.exit_note = sandbox.exit_note
        return spawn

    def forget_blob(self, digest: str) -> None:
        """Unlink a deleted blob from this process's sandbox view, if it was shown there."""
        if self._sandbox is not None:
            self._sandbox.gate.forget(digest)

    def _close_sandbox(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def _record_failure(self) -> None:
        self.state = ProcessState.STOPPED
        self.failures += 1
        self._next_start_at = time.monotonic() + backoff_delay(self.failures)

    def _on_exit(self, conn: RpcConnection) -> None:
        if conn is not self._conn:
            return
        self._close_sandbox()
        if self.state is ProcessState.STARTING:
            return  # _spawn reports the failure itself
        if not self._expected_exit:
            self.restarts += 1
            self._record_failure()
            log.warning(
                "plugin %s exited unexpectedly (exit %s); the next call restarts it (attempt %d)",
                self.options.label,
                conn.closed.result(),
                self.failures,
            )
        self.state = ProcessState.STOPPED

    def _on_stuck(self, reason: str) -> None:
        log.error("%s", reason)
        if self._conn is not None:
            self._conn.fail(PluginCrashed(reason, details={"plugin": self.options.label}))

    def _stderr(self) -> str:
        return self._conn.stderr_text() if self._conn is not None else "(nothing)"

    async def _idle_watch(self) -> None:
        while self.state is ProcessState.RUNNING:
            conn = self._conn
            idle_for = time.monotonic() - self._last_used
            if conn is not None and conn.in_flight == 0 and idle_for >= self.options.idle_timeout:
                log.info("plugin %s idle for %.0f s; stopping it", self.options.label, idle_for)
                await self.stop()
                return
            await asyncio.sleep(max(0.05, min(self.options.idle_timeout - idle_for, self.options.idle_timeout)))

    async def stop(self, grace: float = 5.0) -> None:
        """Ask the process to finish its calls and exit; kill it after ``grace`` seconds."""
        conn = self._conn
        if conn is None or not conn.alive:
            self.state = ProcessState.STOPPED
            return
        self.state = ProcessState.STOPPING
        self._expected_exit = True
        try:
            _, future = conn.request("shutdown", {"graceMs": int(grace * 1000)})
            await asyncio.wait_for(future, grace + 1.0)
            await asyncio.wait_for(asyncio.shield(conn.closed), 2.0)
        except (TimeoutError, SynthralError):
            conn.kill()
            await asyncio.shield(conn.closed)
        self.state = ProcessState.STOPPED

    def kill(self) -> None:
        """SIGKILL the process (for tests and emergencies); in-flight calls fail retryably."""
        if self._conn is not None:
            self._conn.kill()

    def describe(self) -> JSONObject:
        """A status summary for ``plugin info``."""
        sandbox: JSONObject
        if self._sandbox is not None:
            sandbox = self._sandbox.describe()
        elif self.unsandboxed_reason is not None:
            sandbox = {"sandbox": "none", "reason": self.unsandboxed_reason}
        else:
            sandbox = {"sandbox": "not started"}
        return {
            "state": self.state.value,
            "pid": self.pid,
            "restarts": self.restarts,
            "consecutiveFailures": self.failures,
            "uptimeSeconds": None
            if self.started_at is None or self.pid is None
            else time.monotonic() - self.started_at,
            **sandbox,
        }


async def _kill_and_wait(conn: RpcConnection) -> None:
    conn.kill()
    await asyncio.shield(conn.closed)
