"""The runner through its real process boundary: framing, errors, cancellation, shutdown."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest

from synthral_sdk import PROTOCOL_VERSION, BlobStore
from synthral_sdk.errors import (
    Cancelled,
    DeadlineExceeded,
    FrameTooLarge,
    IncompatiblePlugin,
    InputInvalid,
    OutputInvalid,
    PluginError,
    PluginLoadError,
    ProtocolError,
    UnknownCapability,
    UnknownOperation,
)
from synthral_sdk.testing import RunnerClient

MODULES = str(Path(__file__).parent / "modules")


def client_for(module: str, **initialize: object) -> RunnerClient:
    return RunnerClient(
        env={"PYTHONPATH": MODULES},
        initialize={"entryPoints": [{"name": "fixture", "value": module}], **initialize},  # type: ignore[dict-item]
    )


@pytest.fixture
def client() -> Iterator[RunnerClient]:
    runner = client_for("runner_fixture", maxFrameBytes=64 * 1024)
    runner.start()
    yield runner
    runner.close()


def test_initialize_returns_the_catalog(client: RunnerClient) -> None:
    answer = client.initialize_result
    assert answer["protocolVersion"] == "1.1" and answer["maxFrameBytes"] == 64 * 1024
    specs = {spec["name"]: spec for spec in answer["capabilities"]}  # type: ignore[union-attr,index]
    assert specs["double"]["kind"] == "node" and specs["reader"]["kind"] == "ocr_engine"
    assert specs["double"]["operations"]["run"]["inputSchema"]["properties"]["value"]["type"] == "integer"  # type: ignore[index]


def test_invoke_and_prints_stay_off_the_stream(client: RunnerClient) -> None:
    assert client.invoke("double", {"value": 21}) == {"value": 42}
    assert client.errors_without_id() == []
    deadline = time.monotonic() + 5
    while not any("must not reach" in line for line in client.stderr_lines) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any("must not reach" in line for line in client.stderr_lines)  # the print went to stderr


def test_requests_before_initialize_are_refused() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "synthral_sdk.runner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}\n')
    process.stdin.flush()
    answer = orjson.loads(process.stdout.readline())
    process.stdin.close()
    process.wait(10)
    process.stdout.close()
    assert answer["error"]["code"] == -32002 and "initialize" in answer["error"]["message"]
    assert process.returncode == 0  # end of stdin: a clean exit


def test_malformed_messages_get_protocol_errors_and_change_nothing(client: RunnerClient) -> None:
    client.send_raw(b"this is not json\n")
    client.send_raw(b"[1, 2, 3]\n")
    client.send_raw(b'{"jsonrpc": "1.0", "id": 5, "method": "ping"}\n')
    client.send_raw(b"\n   \n")
    with pytest.raises(ProtocolError, match="unknown method"):
        client.request("no_such_method", {})
    client.send_raw(b'{"jsonrpc":"2.0","id":777,"method":"invoke","params":[1]}\n')
    with pytest.raises(ProtocolError, match="params must be an object"):
        client.wait(777)
    deadline = time.monotonic() + 5
    while len(client.errors_without_id()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    codes = sorted(error["error"]["code"] for error in client.errors_without_id())  # type: ignore[index]
    assert codes == [-32700, -32600, -32600]
    assert client.invoke("double", {"value": 1}) == {"value": 2}


def test_an_oversized_frame_is_discarded_and_answered(client: RunnerClient) -> None:
    client.send_raw(b'{"pad": "' + b"z" * (100 * 1024) + b'"}\n')
    assert client.invoke("double", {"value": 3}) == {"value": 6}
    orphans = client.errors_without_id()
    assert orphans and orphans[0]["error"]["code"] == -32001  # type: ignore[index]


def test_an_oversized_answer_becomes_an_error(client: RunnerClient) -> None:
    with pytest.raises(FrameTooLarge, match="blob references"):
        client.invoke("large", {"kib": 100})
    assert client.invoke("large", {"kib": 1})["text"] == "y" * 1024


def test_errors_are_typed(client: RunnerClient) -> None:
    with pytest.raises(UnknownCapability, match="double"):
        client.invoke("ghost", {})
    with pytest.raises(UnknownOperation, match="run"):
        client.invoke("double", {}, operation="walk")
    with pytest.raises(InputInvalid, match="value"):
        client.invoke("double", {"value": "many"})
    with pytest.raises(OutputInvalid, match="bug in the plugin"):
        client.invoke("wrong", {})


def test_async_calls_run_concurrently_and_are_cancelled(client: RunnerClient) -> None:
    slow = client.send_request("invoke", {"capability": "wait", "operation": "run", "input": {"value": 30}})
    assert client.invoke("double", {"value": 5}) == {"value": 10}  # not blocked by the slow call
    client.notify("$/cancelRequest", {"id": slow})
    with pytest.raises(Cancelled):
        client.wait(slow, timeout=5)


def test_sync_calls_see_cancellation(client: RunnerClient) -> None:
    spin = client.send_request("invoke", {"capability": "spin", "operation": "run", "input": {"value": 30}})
    time.sleep(0.2)
    client.notify("$/cancelRequest", {"id": spin})
    with pytest.raises(Cancelled):
        client.wait(spin, timeout=5)


def test_the_runner_enforces_the_call_deadline(client: RunnerClient) -> None:
    with pytest.raises(DeadlineExceeded, match="200 ms"):
        client.invoke("spin", {"value": 30}, context={"timeoutMs": 200})


def test_blobs_travel_as_references(client: RunnerClient) -> None:
    ref = BlobStore(client.blob_root).put(b"text in a blob", media_type="text/plain")
    result = client.invoke("reader", {"document": ref.to_json()}, operation="recognize")
    assert result["text"] == "text in a blob"
    with pytest.raises(InputInvalid, match="64 lowercase hex"):
        client.invoke("reader", {"document": {"$blob": "sha256:../../etc/passwd", "size": 1}}, operation="recognize")


def test_shutdown_waits_for_running_calls() -> None:
    runner = client_for("runner_fixture")
    runner.start()
    slow = runner.send_request("invoke", {"capability": "wait", "operation": "run", "input": {"value": 1}})
    assert runner.request("shutdown", {"graceMs": 5000}) is None
    assert runner.wait(slow) == {"output": {"value": 1}}
    assert runner.close() == 0


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("runner_import_error", "a_module_that_does_not_exist"),
        ("runner_typo_hook", "synthral_node"),
        ("runner_duplicate", "two capabilities are named 'same'"),
        ("runner_wrong_kind", "must return instances"),
    ],
)
def test_load_failures_are_answered_then_the_runner_exits(module: str, message: str) -> None:
    runner = client_for(module)
    with pytest.raises(PluginLoadError, match=message):
        runner.start()
    assert runner.close() == 3


def test_another_protocol_major_is_refused() -> None:
    runner = RunnerClient(env={"PYTHONPATH": MODULES}, initialize={"protocolVersion": "2.0"})
    with pytest.raises(IncompatiblePlugin, match=r"protocol '2\.0'"):
        runner.start()
    assert runner.close() == 3


def test_a_call_cancelled_in_the_same_read_as_its_invoke_is_still_answered(client: RunnerClient) -> None:
    params = b'{"capability":"wait","operation":"run","input":{"value":30}}'
    invoke = b'{"jsonrpc":"2.0","id":4242,"method":"invoke","params":' + params + b"}\n"
    cancel = b'{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":4242}}\n'
    client.send_raw(invoke + cancel)
    with pytest.raises(Cancelled):
        client.wait(4242, timeout=5)


def test_encodings_of_a_granted_secret_are_masked_in_errors_tracebacks_and_logs(client: RunnerClient) -> None:
    secret = "s3cr3t/t0ken with space"
    with pytest.raises(PluginError) as failed:
        client.invoke("leak", {}, context={"secrets": {"token": secret}})
    message = failed.value.message
    assert message.startswith("ValueError: refused *** (***)"), message
    trace = failed.value.details["traceback"]
    assert isinstance(trace, str) and trace.startswith("Traceback (most recent call last)")
    assert "runner_fixture.py" in trace and "in run" in trace
    assert trace.rstrip().endswith("ValueError: refused *** (***)")
    for form in (quote(secret, safe=""), secret.encode().hex()):
        assert form not in message and form not in trace
    deadline = time.monotonic() + 5
    while not client.logs("warning") and time.monotonic() < deadline:
        time.sleep(0.01)
    [line] = client.logs("warning")
    assert line.startswith("sending Basic b3BzO") and "***" in line
    assert base64.b64encode(f"ops:{secret}".encode()).decode()[8:-4] not in line


def _frames(*messages: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(message) + b"\n" for message in messages)


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "1.0", "host": {"name": "by-hand", "version": "0"},
    "entryPoints": [{"name": "fixture", "value": "runner_fixture"}]}}  # fmt: skip


def test_the_runner_works_with_stdout_redirected_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": MODULES, "SYNTHRAL_BLOB_ROOT": str(tmp_path / "blobs")}
    invoke = {"jsonrpc": "2.0", "id": 2, "method": "invoke",
              "params": {"capability": "double", "operation": "run", "config": {}, "input": {"value": 21}}}  # fmt: skip
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "synthral_sdk.runner"], stdin=subprocess.PIPE, stdout=stdout,
            stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        assert process.stdin is not None and process.stderr is not None
        process.stdin.write(_frames(INITIALIZE, invoke))
        process.stdin.flush()
        deadline = time.monotonic() + 30
        while out.read_bytes().count(b"\n") < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.stdin.close()
        assert process.wait(30) == 0, process.stderr.read().decode()
        process.stderr.close()
    answers = {answer["id"]: answer for answer in map(orjson.loads, out.read_bytes().splitlines())}
    assert answers[1]["result"]["protocolVersion"] == PROTOCOL_VERSION
    assert answers[2]["result"] == {"output": {"value": 42}}


def test_the_runner_reads_requests_from_a_file_too(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    wait = {"jsonrpc": "2.0", "id": 2, "method": "invoke",
            "params": {"capability": "wait", "operation": "run", "config": {}, "input": {"value": 1}}}  # fmt: skip
    shutdown = {"jsonrpc": "2.0", "id": 3, "method": "shutdown", "params": {"graceMs": 10000}}
    source.write_bytes(_frames(INITIALIZE, wait, shutdown))  # ends with shutdown: the call may finish
    env = {**os.environ, "PYTHONPATH": MODULES, "SYNTHRAL_BLOB_ROOT": str(tmp_path / "blobs")}
    with source.open("rb") as stdin, out.open("wb") as stdout:
        done = subprocess.run([sys.executable, "-m", "synthral_sdk.runner"], stdin=stdin, stdout=stdout,
                              stderr=subprocess.PIPE, env=env, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    answers = {answer["id"]: answer for answer in map(orjson.loads, out.read_bytes().splitlines())}
    assert answers[1]["result"]["protocolVersion"] == PROTOCOL_VERSION
    assert answers[2]["result"] == {"output": {"value": 1}}
    assert answers[3]["result"] is None
