"""Testing helpers for plugin authors, and the conformance suite every plugin should pass.

In your plugin's tests::

    from synthral_sdk.testing import Example, PluginConformance

    class TestConformance(PluginConformance):
        dist = "my-plugin"
        examples = [Example("greet", {"who": "Ada"}, expected={"text": "hello Ada"})]

The suite loads the plugin the way the host does, in process and through a real runner
process speaking the protocol, and checks the catalog, the error handling and the
examples both ways. :func:`call` runs one capability in process for unit tests;
:class:`RunnerClient` talks to the runner for tests of the process boundary.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar, cast

import orjson

from synthral_sdk import _protocol as proto
from synthral_sdk._ai import AgentStep, CompletionRequest, ToolCall
from synthral_sdk._capability import NAME_PATTERN, Capability
from synthral_sdk._code_conformance import CodeRuntimeChecks
from synthral_sdk._conformance_sandbox import ConformanceSandbox, declared_permissions, sandbox_unavailable
from synthral_sdk._host import CALL_TOOL_METHOD, COMPLETE_METHOD, HOST_METHODS, RECORD_METHOD, HostServices
from synthral_sdk._plugin_set import (
    CapabilityEntry,
    catalog,
    collect_capabilities,
    discover_entry_points,
    load_entry_points,
    new_plugin_manager,
)
from synthral_sdk._version import __version__
from synthral_sdk.blobs import BlobStore
from synthral_sdk.context import Context, EventSink
from synthral_sdk.errors import (
    ConfigInvalid,
    InputInvalid,
    ProtocolError,
    SynthralError,
    UnknownCapability,
    UnknownOperation,
)
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.types import JSONObject, JSONValue
from synthral_sdk.vectors import pack

__all__ = [
    "CodeRuntimeConformance",
    "Example",
    "PluginConformance",
    "RunnerClient",
    "VectorStoreConformance",
    "call",
    "load_plugin",
]


def load_plugin(dist: str) -> dict[str, CapabilityEntry]:
    """Load a distribution's plugin in this process, as the runner does, and collect its capabilities."""
    pm = new_plugin_manager()
    load_entry_points(pm, discover_entry_points(dist))
    pm.hook.synthral_startup(data_dir=None)
    return collect_capabilities(pm)


def call(
    capability: Capability,
    payload: object,
    *,
    config: object = None,
    operation: str | None = None,
    secrets: Mapping[str, str] | None = None,
    blobs: BlobStore | None = None,
    timeout: float | None = None,
    progress: Callable[[float | None, str], None] | None = None,
    cancel_event: threading.Event | None = None,
    idempotency_key: str | None = None,
    execution_id: str | None = None,
    attempt: int = 1,
    host: HostServices | None = None,
    events: EventSink | None = None,
    network: NetworkPolicy | None = None,
) -> JSONObject:
    """Call one operation of ``capability`` in this process and return its JSON output.

    ``operation`` defaults to the capability's only operation. ``progress`` receives the
    call's progress reports; setting ``cancel_event`` (from another thread) cancels it.
    ``host`` answers what the call asks of the host (``synthral_sdk.testing_llm.ScriptedHost``);
    ``events`` receives what it emits.
    Without ``blobs`` the call gets a temporary store, deleted afterwards. ``network`` is the
    call's network policy; tests talk to stand-in servers on this machine, so it defaults to
    :meth:`NetworkPolicy.local` (pass ``NetworkPolicy.server()`` to test what a server
    refuses). Raises what the call raises.
    """
    ops = capability.operations()
    name = operation or next(iter(ops))
    with tempfile.TemporaryDirectory(prefix="synthral-blobs-") as scratch:
        context = Context(
            blobs=blobs or BlobStore(scratch),
            secrets=secrets,
            timeout=timeout,
            progress=progress,
            cancel_event=cancel_event,
            idempotency_key=idempotency_key,
            execution_id=execution_id,
            attempt=attempt,
            host=host,
            events=events,
            network=network if network is not None else NetworkPolicy.local(),
        )
        return asyncio.run(capability.call(name, {} if config is None else config, payload, context))


class RunnerClient:
    """A blocking client for ``python -m synthral_sdk.runner``, for tests.

    Args:
        dist: The distribution to serve; every installed plugin when ``None``.
        python: The interpreter whose environment holds the plugin (default: this one).
        blob_root: The blob store directory handed to the plugin.
        env: Extra environment variables for the process.
        initialize: Extra ``initialize`` parameters (``entryPoints``, ``maxFrameBytes``...).
        host: Answers the runner's ``host/*`` requests (protocol 1.1), e.g. a
            ``synthral_sdk.testing_llm.ScriptedHost``; without it none are offered.
        sandboxed: Start the runner in the host's OS sandbox, granted what ``dist`` declares
            (Linux with bubblewrap; ``python`` must be a venv's interpreter).
    """

    def __init__(
        self,
        dist: str | None = None,
        *,
        python: str | None = None,
        blob_root: Path | None = None,
        env: Mapping[str, str] | None = None,
        initialize: JSONObject | None = None,
        host: HostServices | None = None,
        sandboxed: bool = False,
    ) -> None:
        self.dist = dist
        self.sandboxed = sandboxed
        self._sandbox: ConformanceSandbox | None = None
        self.host = host
        self._write_lock = threading.Lock()
        self.initialize_params = dict(initialize or {})
        self.python = python or sys.executable
        self._own_blob_root = blob_root is None
        self.blob_root = blob_root or Path(tempfile.mkdtemp(prefix="synthral-blobs-"))
        self.env = dict(env or {})
        self.notifications: list[JSONObject] = []
        self.stderr_lines: list[str] = []
        self.initialize_result: JSONObject = {}
        self._answers: dict[int, JSONObject] = {}
        self._orphans: list[JSONObject] = []
        self._cond = threading.Condition()
        self._next_id = 1
        self._process: subprocess.Popen[bytes] | None = None
        self._readers: list[threading.Thread] = []
        self._stdin: IO[bytes] | None = None

    def __enter__(self) -> RunnerClient:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, timeout: float = 60.0) -> JSONObject:
        """Start the runner and send ``initialize``; return its answer."""
        command = [self.python, "-m", "synthral_sdk.runner"]
        if self.dist:
            command += ["--dist", self.dist]
        env = {**os.environ, "SYNTHRAL_BLOB_ROOT": str(self.blob_root), **self.env}
        pass_fds: tuple[int, ...] = ()
        venv = Path(self.python).absolute().parent.parent
        if self.sandboxed and self.dist and declared_permissions(self.dist, venv).unsandboxed:
            self.sandboxed = False  # it asks to run outside the sandbox, as the host would start it once granted
        if self.sandboxed:
            if not self.dist:
                raise ValueError("a sandboxed runner needs the distribution whose permissions it is granted")
            self._sandbox = ConformanceSandbox(self.dist, python=self.python, blob_root=self.blob_root)
            runner_args = ["--dist", self.dist]
            inside = {"SYNTHRAL_BLOB_ROOT": str(self.blob_root), **self.env}
            command, seccomp_fd = self._sandbox.command(runner_args, inside)
            pass_fds = (seccomp_fd,)
            env = {}
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                pass_fds=pass_fds,
            )
        finally:
            for fd in pass_fds:
                os.close(fd)
        self._stdin = self._process.stdin
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        params: JSONObject = {
            "protocolVersion": proto.PROTOCOL_VERSION,
            "host": {"name": "synthral-sdk-testing", "version": __version__},
            **({"hostServices": list(HOST_METHODS)} if self.host is not None else {}),
            **self.initialize_params,
        }
        answer = self.request("initialize", params, timeout=timeout)
        self.initialize_result = cast(JSONObject, answer)
        return self.initialize_result

    @property
    def returncode(self) -> int | None:
        """The runner's exit status once it has exited."""
        return None if self._process is None else self._process.poll()

    def send_raw(self, data: bytes) -> None:
        """Write bytes to the runner's stdin unchanged (for malformed-input tests)."""
        assert self._stdin is not None, "start() first"
        with self._write_lock:
            self._stdin.write(data)
            self._stdin.flush()

    def notify(self, method: str, params: JSONObject) -> None:
        """Send a notification."""
        self.send_raw(proto.encode(proto.notification(method, params)))

    def send_request(self, method: str, params: JSONObject) -> int:
        """Send a request without waiting; return its id."""
        with self._cond:
            request_id = self._next_id
            self._next_id += 1
        self.send_raw(proto.encode(proto.request(request_id, method, params)))
        return request_id

    def wait(self, request_id: int, timeout: float = 60.0) -> JSONValue:
        """Wait for a request's answer; raise the error it carries, as the host would."""
        with self._cond:
            if not self._cond.wait_for(lambda: request_id in self._answers or self.returncode is not None, timeout):
                raise TimeoutError(f"no answer to request {request_id} within {timeout} s")
            if request_id not in self._answers:
                raise ProtocolError(
                    f"the runner exited ({self.returncode}) without answering; stderr:\n"
                    + "\n".join(self.stderr_lines[-20:])
                )
            answer = self._answers.pop(request_id)
        if "error" in answer:
            raise proto.exception_from_error(answer["error"])
        return answer.get("result")

    def request(self, method: str, params: JSONObject, timeout: float = 60.0) -> JSONValue:
        """Send a request and wait for its answer."""
        return self.wait(self.send_request(method, params), timeout)

    def invoke(
        self,
        capability: str,
        payload: object = None,
        *,
        operation: str = "run",
        config: object = None,
        context: JSONObject | None = None,
        timeout: float = 60.0,
    ) -> JSONObject:
        """Call one operation through the process boundary and return its output.

        ``context`` is the wire context (``secrets``, ``idempotencyKey``, ``network``...);
        without ``network`` the call may reach this machine, as :func:`call` allows.
        """
        context = {"network": NetworkPolicy.local().to_wire(), **(context or {})}
        params: JSONObject = {
            "capability": capability,
            "operation": operation,
            "config": cast(JSONValue, {} if config is None else config),
            "input": cast(JSONValue, {} if payload is None else payload),
            "context": cast(JSONValue, context or {}),
        }
        answer = cast(JSONObject, self.request("invoke", params, timeout))
        return cast(JSONObject, answer["output"])

    def progress(self, request_id: int) -> list[tuple[float | None, str]]:
        """The ``$/progress`` reports received for one request, in order."""
        with self._cond:
            found: list[tuple[float | None, str]] = []
            for note in self.notifications:
                params = note.get("params")
                if (
                    note.get("method") == proto.PROGRESS_METHOD
                    and isinstance(params, dict)
                    and params.get("requestId") == request_id
                ):
                    value = params.get("progress")
                    fraction = float(value) if isinstance(value, int | float) else None
                    found.append((fraction, str(params.get("message", ""))))
            return found

    def events(self, request_id: int) -> list[tuple[str, JSONObject]]:
        """The ``$/event`` notifications received for one request, in order, as ``(kind, data)``."""
        with self._cond:
            found: list[tuple[str, JSONObject]] = []
            for note in self.notifications:
                params = note.get("params")
                if (
                    note.get("method") == proto.EVENT_METHOD
                    and isinstance(params, dict)
                    and params.get("requestId") == request_id
                ):
                    data = params.get("data")
                    found.append((str(params.get("kind", "")), data if isinstance(data, dict) else {}))
            return found

    def logs(self, level: str | None = None) -> list[str]:
        """The messages of ``$/log`` notifications received, optionally of one level."""
        with self._cond:
            found: list[str] = []
            for note in self.notifications:
                params = note.get("params")
                if (
                    note.get("method") == proto.LOG_METHOD
                    and isinstance(params, dict)
                    and (level is None or params.get("level") == level)
                ):
                    found.append(str(params.get("message", "")))
            return found

    def errors_without_id(self) -> list[JSONObject]:
        """Error answers the runner sent with ``id: null`` (to junk or oversized frames)."""
        with self._cond:
            return list(self._orphans)

    def close(self, timeout: float = 10.0) -> int | None:
        """Shut the runner down (``shutdown``, then kill if it lingers); return its exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(TimeoutError, SynthralError, OSError):
                self.request("shutdown", {"graceMs": 1000}, timeout=timeout)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):  # unsent bytes to a runner that already exited
                process.stdin.close()
        for reader in self._readers:  # they stop at the end of the pipes; closing under them races
            reader.join(timeout)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                # A runner that exited on its own (a load failure) leaves stdin a broken pipe:
                # closing flushes what ``shutdown`` buffered into it.
                with contextlib.suppress(BrokenPipeError):
                    stream.close()
        if self._own_blob_root:
            shutil.rmtree(self.blob_root, ignore_errors=True)
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        return process.returncode

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(message, dict):
                continue
            with self._cond:
                request_id = message.get("id")
                if isinstance(request_id, int) and ("result" in message or "error" in message):
                    self._answers[request_id] = message
                elif "method" in message and request_id is not None:
                    threading.Thread(target=self._answer_host_request, args=(message,), daemon=True).start()
                elif "method" in message:
                    self.notifications.append(message)
                else:
                    self._orphans.append(message)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _answer_host_request(self, message: JSONObject) -> None:
        request_id = cast(int, message.get("id"))
        method = message.get("method")
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        host = self.host
        try:
            if host is None:
                raise ProtocolError(f"this test offered no host services, yet the runner sent {method!r}")
            if method == COMPLETE_METHOD:
                request = CompletionRequest.model_validate(params.get("request"))
                value: JSONValue = asyncio.run(host.complete(request)).model_dump(mode="json")
            elif method == CALL_TOOL_METHOD:
                value = asyncio.run(host.call_tool(ToolCall.model_validate(params.get("call")))).model_dump(mode="json")
            elif method == RECORD_METHOD:
                asyncio.run(host.record(AgentStep.model_validate(params.get("step"))))
                value = None
            else:
                raise ProtocolError(f"unknown host method {method!r}")
            answer = proto.result(request_id, value)
        except SynthralError as exc:
            answer = proto.error_for_exception(request_id, exc)
        self.send_raw(proto.encode(answer))

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self.stderr_lines.append(line.decode(errors="replace").rstrip())


@dataclass(frozen=True)
class Example:
    """One call the conformance suite makes, in process and through the runner.

    Attributes:
        capability: The capability's name.
        input: The operation's input, or a function building it with the suite's blob
            store, for inputs that refer to files:
            ``lambda blobs: {"document": blobs.put(png, media_type="image/png").to_json()}``.
        config: The capability's config.
        operation: The operation; the capability's only one when ``None``.
        expected: When given, the output must contain these keys with these values.
        secrets: Secrets granted to the call.
    """

    capability: str
    input: JSONObject | Callable[[BlobStore], JSONObject]
    config: JSONObject = field(default_factory=dict)
    operation: str | None = None
    expected: JSONObject | None = None
    secrets: dict[str, str] = field(default_factory=dict)


def _contains(output: JSONObject, expected: JSONObject) -> bool:
    return all(key in output and output[key] == value for key, value in expected.items())


class PluginConformance:
    """The checks every plugin must pass; subclass it in your tests and set ``dist``."""

    dist: ClassVar[str]
    examples: ClassVar[Sequence[Example]] = ()
    runner_env: ClassVar[Mapping[str, str]] = {}
    sandboxed: ClassVar[bool | None] = None
    """Run the runner in the host's OS sandbox with what the plugin declares; ``None``: where
    this machine can (Linux with bubblewrap), so an undeclared permission fails here first."""

    _cache: ClassVar[dict[str, dict[str, CapabilityEntry]]] = {}
    _blob_root: ClassVar[Path | None] = None

    @property
    def blobs(self) -> BlobStore:
        """One blob store shared by in-process calls and the runner, for the whole suite."""
        if PluginConformance._blob_root is None:
            root = Path(tempfile.mkdtemp(prefix="synthral-conformance-blobs-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            PluginConformance._blob_root = root
        return BlobStore(PluginConformance._blob_root)

    def _input(self, example: Example) -> JSONObject:
        return example.input(self.blobs) if callable(example.input) else example.input

    def _entries(self) -> dict[str, CapabilityEntry]:
        if self.dist not in PluginConformance._cache:
            PluginConformance._cache[self.dist] = load_plugin(self.dist)
        return PluginConformance._cache[self.dist]

    def _client(self) -> RunnerClient:
        sandboxed = self.sandboxed
        if sandboxed is None:
            sandboxed = sys.prefix != sys.base_prefix and sandbox_unavailable() is None
        return RunnerClient(self.dist, env=self.runner_env, blob_root=self.blobs.root, sandboxed=sandboxed)

    def test_declares_valid_permissions(self) -> None:
        """Its ``synthral-plugin.toml`` (if any) parses; what it declares is what the host will show."""
        declared_permissions(self.dist)

    def _run_examples(self, run: Callable[[Example], JSONObject]) -> None:
        for example in self.examples:
            output = run(example)
            if example.expected is not None:
                assert _contains(output, example.expected), (
                    f"example {example.capability} returned {output!r}, expected it to contain {example.expected!r}"
                )

    def test_declares_one_entry_point(self) -> None:
        """The distribution declares exactly one ``synthral.plugins`` entry point."""
        refs = discover_entry_points(self.dist)
        assert len(refs) == 1, f"{self.dist} must declare exactly one entry point in 'synthral.plugins', has {refs}"

    def test_offers_valid_capabilities(self) -> None:
        """Every capability has a valid name, operations and a plain-JSON catalog entry."""
        entries = self._entries()
        assert entries, f"{self.dist} offers no capability; implement a hook from synthral_sdk.hookspecs"
        for name, entry in entries.items():
            assert NAME_PATTERN.fullmatch(name), f"capability name {name!r} is not lowercase letters, digits, _ . -"
            spec = entry.spec().wire()
            orjson.dumps(spec)  # the catalog must be plain JSON
            assert isinstance(spec["configSchema"], dict)
            assert spec["operations"], f"capability {name} has no operations"

    def test_rejects_unknown_operation(self) -> None:
        """Every capability refuses an operation it does not have."""
        for name, entry in self._entries().items():
            try:
                call(entry.capability, {}, operation="no-such-operation")
            except UnknownOperation:
                continue
            raise AssertionError(f"{name} accepted an unknown operation")

    def test_rejects_invalid_config(self) -> None:
        """Every capability refuses a config that is not an object, naming the config."""
        for name, entry in self._entries().items():
            try:
                call(entry.capability, {}, config="not an object")
            except ConfigInvalid as exc:
                assert "config" in exc.message
                continue
            raise AssertionError(f"{name} accepted a config that is not an object")

    def test_rejects_invalid_input(self) -> None:
        """Every capability refuses an input that is not an object."""
        for name, entry in self._entries().items():
            try:
                call(entry.capability, ["not", "an", "object"])
            except (InputInvalid, ConfigInvalid):
                continue
            raise AssertionError(f"{name} accepted an input that is not an object")

    def test_catalog_is_the_same_through_the_runner(self) -> None:
        """The runner's ``initialize`` catalog equals the in-process one."""
        with self._client() as client:
            remote = client.initialize_result["capabilities"]
        assert remote == catalog(self._entries())

    def test_errors_cross_the_boundary_typed(self) -> None:
        """Errors come back through the runner as the SDK's exception types."""
        name = next(iter(self._entries()))
        with self._client() as client:
            for payload, config, capability, expected in (
                ({}, {}, "no-such-capability", UnknownCapability),
                ({}, "not an object", name, ConfigInvalid),
            ):
                try:
                    client.invoke(capability, payload, config=config, operation=self._first_op(name))
                except expected:
                    continue
                raise AssertionError(f"expected {expected.__name__} from the runner")

    def _first_op(self, name: str) -> str:
        return next(iter(self._entries()[name].capability.operations()))

    def test_examples_in_process(self) -> None:
        """The examples succeed (and match ``expected``) in process."""
        entries = self._entries()
        self._run_examples(
            lambda ex: call(
                entries[ex.capability].capability,
                self._input(ex),
                config=ex.config,
                operation=ex.operation,
                secrets=ex.secrets,
                blobs=self.blobs,
            )
        )

    def test_examples_through_the_runner(self) -> None:
        """The examples succeed (and match ``expected``) through a real runner process."""
        if not self.examples:
            return
        with self._client() as client:
            self._run_examples(
                lambda ex: client.invoke(
                    ex.capability,
                    self._input(ex),
                    operation=ex.operation or self._first_op(ex.capability),
                    config=ex.config,
                    context={"secrets": cast(JSONValue, ex.secrets)} if ex.secrets else None,
                )
            )


class CodeRuntimeConformance(CodeRuntimeChecks, PluginConformance):
    """The plugin checks plus the checks every code runtime must pass.

    Subclass it in the runtime plugin's tests, set ``dist`` and ``capability`` (and
    ``languages``, ``network``, ``config``, ``secrets``, ``remote`` as they apply)::

        class TestConformance(CodeRuntimeConformance):
            dist = "synthral-code-wasi"
            capability = "wasi"
    """


# -- vector stores -------------------------------------------------------------------------


def _unit(rng: random.Random, dims: int) -> list[float]:
    vector = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class VectorStoreConformance:
    """The checks every vector store must pass; subclass it and set ``dist`` and ``capability``.

    Override :meth:`store_config` to point the store at a folder or server made for the test
    run. Each check uses a fresh collection. ``scale`` records are written by the scale check
    (10,000 by default, in batches of ``batch``).
    """

    dist: ClassVar[str]
    capability: ClassVar[str]
    dims: ClassVar[int] = 16
    scale: ClassVar[int] = 10_000
    batch: ClassVar[int] = 1_000
    runner_env: ClassVar[Mapping[str, str]] = {}

    def store_config(self) -> JSONObject:
        """The store's config for these checks (a temporary folder, a test server's URL)."""
        return {}

    def store_secrets(self) -> dict[str, str]:
        """The secrets granted to every call (a test server's API key)."""
        return {}

    def runner_config(self) -> JSONObject:
        """The config the runner-process check uses (another folder, for stores that lock theirs)."""
        return self.store_config()

    def collection(self, label: str) -> str:
        """A collection name no other check uses."""
        return f"conf_{label}_{uuid.uuid4().hex[:10]}"

    def _store(self) -> Capability:
        entries = load_plugin(self.dist)
        assert self.capability in entries, f"{self.dist} offers no capability {self.capability!r}"
        return entries[self.capability].capability

    def op(self, operation: str, payload: JSONObject) -> JSONObject:
        """Call one operation of the store in process."""
        return call(
            self._store(), payload, config=self.store_config(), operation=operation, secrets=self.store_secrets()
        )

    def _records(self, count: int, *, seed: int = 7, start: int = 0) -> list[JSONObject]:
        rng = random.Random(seed)
        return [
            {
                "id": f"r{start + i}",
                "vector": cast(JSONValue, _unit(rng, self.dims)),
                "text": f"record number {start + i}",
                "metadata": {"lang": "fr" if (start + i) % 3 == 0 else "en", "n": start + i, "even": i % 2 == 0},
            }
            for i in range(count)
        ]

    def _ids(self, result: JSONObject) -> list[str]:
        return [str(cast(JSONObject, m)["id"]) for m in cast(list[JSONValue], result["matches"])]

    def test_a_query_finds_the_nearest_record_with_its_text_and_metadata(self) -> None:
        """The record whose vector is queried comes first, with its text, metadata and the best score."""
        name = self.collection("nearest")
        records = self._records(30)
        assert self.op("upsert", {"collection": name, "records": cast(JSONValue, records)})["upserted"] == 30
        result = self.op("query", {"collection": name, "vector": records[7]["vector"], "top_k": 5})
        matches = cast(list[JSONObject], result["matches"])
        assert len(matches) == 5
        assert matches[0]["id"] == "r7", f"expected r7 first, got {self._ids(result)}"
        assert matches[0]["text"] == "record number 7"
        meta = cast(JSONObject, matches[0]["metadata"])
        assert (meta.get("lang"), meta.get("n"), meta.get("even")) == ("en", 7, False)
        scores = [float(cast(float, m["score"])) for m in matches]
        assert scores == sorted(scores, reverse=True), f"scores are not best first: {scores}"
        assert scores[0] > 0.99, f"a vector's similarity to itself should be ~1, got {scores[0]}"

    def test_packed_vectors_are_stored_and_queried_as_their_values(self) -> None:
        """Records and queries whose vectors come packed (``'f32:'`` + base64, SDK 1.11) behave as arrays."""
        name = self.collection("packed")
        records = self._records(20, seed=11)
        packed = [{**r, "vector": pack(cast(list[float], r["vector"]))} for r in records]
        assert self.op("upsert", {"collection": name, "records": cast(JSONValue, packed)})["upserted"] == 20
        result = self.op("query", {"collection": name, "vector": packed[5]["vector"], "top_k": 3})
        assert self._ids(result)[0] == "r5", f"expected r5 first, got {self._ids(result)}"
        arrays = self.op("query", {"collection": name, "vector": records[5]["vector"], "top_k": 3})
        assert self._ids(arrays) == self._ids(result)
        assert self.op("count", {"collection": name})["count"] == 20

    def test_a_filtered_query_returns_only_matching_records(self) -> None:
        """Equality filters, list (any of) filters and several fields at once."""
        name = self.collection("filter")
        records = self._records(60)
        self.op("upsert", {"collection": name, "records": cast(JSONValue, records)})
        probe = records[4]["vector"]  # r4 is 'en'
        french = self.op("query", {"collection": name, "vector": probe, "top_k": 10, "filter": {"lang": "fr"}})
        ids = self._ids(french)
        assert ids and all(int(i[1:]) % 3 == 0 for i in ids), f"'lang': 'fr' returned {ids}"
        some = self.op("query", {"collection": name, "vector": probe, "top_k": 10, "filter": {"n": [4, 5, 9]}})
        assert sorted(self._ids(some)) == ["r4", "r5", "r9"]
        both = self.op("query", {"collection": name, "vector": probe, "top_k": 10, "filter": {"lang": "en", "n": 5}})
        assert self._ids(both) == ["r5"]
        none = self.op("query", {"collection": name, "vector": probe, "top_k": 10, "filter": {"lang": "de"}})
        assert self._ids(none) == []
        counted = self.op("count", {"collection": name, "filter": {"lang": "fr"}})
        assert counted["count"] == 20

    def test_delete_removes_records_by_id_and_by_filter(self) -> None:
        """Deleted records are neither counted nor found."""
        name = self.collection("delete")
        records = self._records(30)
        self.op("upsert", {"collection": name, "records": cast(JSONValue, records)})
        assert self.op("delete", {"collection": name, "ids": ["r7", "r8", "nope"]})["deleted"] == 2
        result = self.op("query", {"collection": name, "vector": records[7]["vector"], "top_k": 30})
        assert "r7" not in self._ids(result) and "r8" not in self._ids(result)
        assert self.op("delete", {"collection": name, "filter": {"lang": "fr"}})["deleted"] == 10
        assert self.op("count", {"collection": name})["count"] == 18

    def test_upserting_an_existing_id_replaces_the_record(self) -> None:
        """A second upsert of an id replaces its vector, text and metadata; the count stays."""
        name = self.collection("replace")
        records = self._records(10)
        self.op("upsert", {"collection": name, "records": cast(JSONValue, records)})
        replacement: JSONObject = {**self._records(1, seed=99)[0], "id": "r3", "text": "new text", "metadata": {"v": 2}}
        self.op("upsert", {"collection": name, "records": [cast(JSONValue, replacement)]})
        assert self.op("count", {"collection": name})["count"] == 10
        result = self.op("query", {"collection": name, "vector": replacement["vector"], "top_k": 1})
        match = cast(list[JSONObject], result["matches"])[0]
        assert (match["id"], match["text"], match["metadata"]) == ("r3", "new text", {"v": 2})

    def test_an_empty_or_missing_collection_answers_with_nothing(self) -> None:
        """Querying, counting and deleting in a collection never written to succeed with nothing."""
        name = self.collection("empty")
        vector = cast(JSONValue, _unit(random.Random(1), self.dims))
        assert self.op("query", {"collection": name, "vector": vector, "top_k": 3})["matches"] == []
        assert self.op("count", {"collection": name})["count"] == 0
        assert self.op("delete", {"collection": name, "ids": ["x"]})["deleted"] == 0
        assert self.op("upsert", {"collection": name, "records": []})["upserted"] == 0

    def test_vectors_of_other_dimensions_are_refused_clearly(self) -> None:
        """An upsert or query whose vectors differ from the collection's size fails, naming both sizes."""
        name = self.collection("dims")
        self.op("upsert", {"collection": name, "records": cast(JSONValue, self._records(3))})
        wrong = cast(JSONValue, _unit(random.Random(2), self.dims + 1))
        for operation, payload in (
            ("upsert", {"collection": name, "records": [{"id": "w", "vector": wrong, "text": "w"}]}),
            ("query", {"collection": name, "vector": wrong, "top_k": 1}),
        ):
            try:
                self.op(operation, cast(JSONObject, payload))
            except InputInvalid as exc:
                assert str(self.dims) in exc.message and str(self.dims + 1) in exc.message, exc.message
                continue
            raise AssertionError(f"{operation} with {self.dims + 1} dimensions into a {self.dims}-d collection passed")
        assert self.op("count", {"collection": name})["count"] == 3, "the refused upsert must write nothing"

    def test_ten_thousand_records_are_stored_and_found(self) -> None:
        """``scale`` records in batches: all counted, and a sample of them finds itself first."""
        name = self.collection("scale")
        store = self._store()
        config = self.store_config()
        secrets = self.store_secrets()
        for start in range(0, self.scale, self.batch):
            records = self._records(min(self.batch, self.scale - start), seed=start, start=start)
            payload: JSONObject = {"collection": name, "records": cast(JSONValue, records)}
            call(store, payload, config=config, operation="upsert", secrets=secrets)
        assert (
            call(store, {"collection": name}, config=config, operation="count", secrets=secrets)["count"] == self.scale
        )
        rng = random.Random(5)
        sample = rng.sample(range(self.scale), 20)
        found = 0
        for index in sample:
            start = index - index % self.batch
            vector = self._records(index - start + 1, seed=start, start=start)[-1]["vector"]
            query: JSONObject = {"collection": name, "vector": vector, "top_k": 10}
            result = call(store, query, config=config, operation="query", secrets=secrets)
            found += self._ids(result)[:1] == [f"r{index}"]
        assert found >= 19, f"only {found} of 20 records found themselves first among {self.scale}"

    def test_records_cross_the_process_boundary(self) -> None:
        """Upsert and query through a real runner process give what they give in process."""
        name = self.collection("runner")
        records = self._records(12)
        context: JSONObject = {"secrets": cast(JSONValue, self.store_secrets())}
        with RunnerClient(self.dist, env=self.runner_env) as client:
            config = cast(JSONValue, self.runner_config())
            out = client.invoke(
                self.capability,
                {"collection": name, "records": records},
                operation="upsert",
                config=config,
                context=context,
            )
            assert out["upserted"] == 12
            result = client.invoke(
                self.capability,
                {"collection": name, "vector": records[2]["vector"], "top_k": 3},
                operation="query",
                config=config,
                context=context,
            )
        assert self._ids(result)[0] == "r2"
