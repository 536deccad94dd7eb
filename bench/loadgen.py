"""A webhook load generator, run as its own process: ``python -m bench.loadgen URL PATH SECRET``.

Two ways to load the server, each sending signed Standard Webhooks deliveries (a new id each):

- closed loop (default): ``--connections`` HTTP/1.1 keep-alive connections each send their
  next delivery as soon as the last is answered, for ``--seconds``: the server's ceiling.
- open loop (``--rate R``): deliveries are due at a steady R per second whatever the server
  does; each is timed from when it was due, not from when a free connection sent it, so a
  stall shows in the latencies instead of silently lowering the load (no coordinated omission).

Prints JSON: elapsed seconds, the latencies of accepted deliveries, the count of failures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvloop


@dataclass
class Target:
    """Where to send, and how to sign."""

    host: str
    port: int
    path: str
    key: bytes
    health: bool = False
    ok: list[float] = field(default_factory=list)
    failed: int = 0

    def record(self, status: int, since: float) -> None:
        """Count an answer: its latency from ``since`` when it was accepted."""
        if 200 <= status < 300:
            self.ok.append(time.perf_counter() - since)
        else:
            self.failed += 1

    def request(self) -> bytes:
        if self.health:  # the same server's cheapest route: the HTTP stack's own ceiling
            return f"GET /api/v1/health HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        msg_id = uuid.uuid4().hex
        stamp = str(int(time.time()))
        body = json.dumps({"order": msg_id}).encode()
        signature = base64.b64encode(hmac.new(self.key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nwebhook-id: {msg_id}\r\nwebhook-timestamp: {stamp}\r\n"
            f"webhook-signature: v1,{signature.decode()}\r\n\r\n"
        ).encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def closed_loop(target: Target, deadline: float) -> None:
    """One connection sending its next delivery as soon as the last is answered."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        while time.perf_counter() < deadline:
            request = target.request()
            started = time.perf_counter()
            target.record(await _exchange(reader, writer, request), started)
    finally:
        writer.close()


async def open_loop_sender(target: Target, due: asyncio.Queue[float | None]) -> None:
    """One connection sending deliveries as they fall due, timing each from its due time."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        while (when := await due.get()) is not None:
            target.record(await _exchange(reader, writer, target.request()), when)
    finally:
        writer.close()


async def main(target: Target, seconds: float, connections: int, rate: float | None) -> None:
    started = time.perf_counter()
    if rate is None:
        await asyncio.gather(*(closed_loop(target, started + seconds) for _ in range(connections)))
    else:
        due: asyncio.Queue[float | None] = asyncio.Queue()
        senders = [asyncio.create_task(open_loop_sender(target, due)) for _ in range(connections)]
        for index in range(int(rate * seconds)):
            when = started + index / rate
            if (wait := when - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            due.put_nowait(when)
        for _ in senders:
            due.put_nowait(None)
        await asyncio.gather(*senders)
    elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "ok": target.ok, "failed": target.failed}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("secret")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, help="Open loop: deliveries due per second (default: closed loop).")
    parser.add_argument("--health", action="store_true", help="GET /api/v1/health instead: the HTTP floor")
    args = parser.parse_args()
    parts = urlsplit(args.url)
    key = base64.b64decode(args.secret.removeprefix("whsec_"))
    target = Target(parts.hostname or "127.0.0.1", parts.port or 80, args.path, key, health=args.health)
    uvloop.run(main(target, args.seconds, args.connections, args.rate))
