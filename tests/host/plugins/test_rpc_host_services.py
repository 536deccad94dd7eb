"""Plugin → host requests (protocol 1.1) on the host's side of the pipe, against a scripted child process."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from synthral.errors import DatabaseUnavailable
from synthral.plugins.rpc import RpcConnection
from synthral.store.db import Database
from synthral_sdk.testing_llm import ScriptedHost

CHILD = """
import json, sys
for line in sys.argv[1:]:
    sys.stdout.write(line + "\\n")
    sys.stdout.flush()
    sys.stderr.write("ANSWER " + sys.stdin.readline())
    sys.stderr.flush()
"""


async def answers(*requests: dict[str, object], services: ScriptedHost | None = None) -> list[dict[str, object]]:
    loop = asyncio.get_running_loop()
    lines = [orjson.dumps(r).decode() for r in requests]

    def connection() -> RpcConnection:
        conn = RpcConnection("child==1", 1 << 20, 1.0, lambda message: None, lambda c: None)
        if services is not None:
            conn.host_services[7] = services
        return conn

    _, conn = await loop.subprocess_exec(connection, sys.executable, "-c", CHILD, *lines)
    await asyncio.wait_for(conn.closed, 30)
    return [orjson.loads(line.removeprefix("ANSWER ")) for line in conn.stderr_tail if line.startswith("ANSWER ")]


def request(request_id: int, method: str, params: dict[str, object]) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


async def test_a_request_for_no_call_in_flight_is_refused() -> None:
    (answer,) = await answers(request(1, "host/callTool", {"requestId": 99, "call": {"id": "c", "name": "t"}}))

    assert answer["id"] == 1
    assert "not a call of it in flight" in answer["error"]["message"]  # type: ignore[index]


async def test_a_granted_call_is_answered_and_a_malformed_one_named() -> None:
    services = ScriptedHost(tools={"echo": lambda args: {"got": args}})
    ok, bad, unknown = await answers(
        request(1, "host/callTool", {"requestId": 7, "call": {"id": "c1", "name": "echo", "arguments": {"a": 1}}}),
        request(2, "host/callTool", {"requestId": 7, "call": {"name": 5}}),
        request(3, "host/teleport", {"requestId": 7}),
        services=services,
    )

    assert ok["result"] == {"call_id": "c1", "name": "echo", "ok": True, "output": {"got": {"a": 1}}, "error": None,
                            "replayed": False}  # fmt: skip
    assert "malformed host/callTool request" in bad["error"]["message"]  # type: ignore[index]
    assert "unknown host method 'host/teleport'" in unknown["error"]["message"]  # type: ignore[index]


async def test_a_failing_host_answers_anyway() -> None:
    class Broken(ScriptedHost):
        async def record(self, step: object) -> None:
            raise RuntimeError("disk on fire")

    (answer,) = await answers(
        request(1, "host/record", {"requestId": 7, "step": {"kind": "thought", "content": "x"}}), services=Broken()
    )

    assert "the host failed to answer host/record: RuntimeError: disk on fire" in answer["error"]["message"]  # type: ignore[index]


CALLING_CHILD = """
import json, sys
call = json.loads(sys.stdin.readline())
ask = {"requestId": call["id"], "step": {"kind": "thought", "content": "x"}}
sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": 50, "method": "host/record", "params": ask}) + "\\n")
sys.stdout.flush()
answer = sys.stdin.readline()
sys.stderr.write("ANSWER " + answer)
sys.stderr.flush()
sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": call["id"], "error": json.loads(answer)["error"]}) + "\\n")
sys.stdout.flush()
sys.stdin.readline()
"""


async def test_a_call_that_failed_because_the_hosts_database_did_is_an_outage_not_the_plugins_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "db").mkdir()  # a database path SQLite cannot open: a real driver error
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db'}")

    class Recording(ScriptedHost):
        async def record(self, step: object) -> None:
            await database.write(lambda c: c.execute(text("SELECT 1")))

    loop = asyncio.get_running_loop()
    _, conn = await loop.subprocess_exec(
        lambda: RpcConnection("child==1", 1 << 20, 1.0, lambda message: None, lambda c: None),
        sys.executable,
        "-c",
        CALLING_CHILD,
    )
    try:
        request_id, reply = conn.request("node/run", {})
        conn.host_services[request_id] = Recording()
        with pytest.raises(DatabaseUnavailable, match="is unavailable"):
            await asyncio.wait_for(reply, 30)
    finally:
        conn.kill()
        await asyncio.wait_for(conn.closed, 30)
        await database.close()
    (answer,) = [orjson.loads(line.removeprefix("ANSWER ")) for line in conn.stderr_tail if line.startswith("ANSWER ")]
    assert answer["error"]["data"]["retryable"] is True  # type: ignore[index]
    assert "the host cannot answer host/record now" in answer["error"]["message"]  # type: ignore[index]
    assert not conn.outages  # forgotten with the call
