"""Plugin → host requests (protocol 1.1) on the host's side of the pipe, against a scripted child process."""

from __future__ import annotations

import asyncio
import sys

import orjson

from synthral.plugins.rpc import RpcConnection
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
