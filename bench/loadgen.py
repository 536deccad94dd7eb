"""A webhook load generator, run as its own process: ``python -m bench.loadgen URL PATH SECRET``.

Keeps ``--connections`` HTTP/1.1 keep-alive connections busy for ``--seconds``, each sending
signed Standard Webhooks deliveries (a new id each) and timing every answer. Prints JSON.
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
from urllib.parse import urlsplit

import uvloop


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


async def _connection(
    host: str, port: int, path: str, key: bytes, deadline: float, out: dict[str, list[float]], *, health: bool
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            msg_id = uuid.uuid4().hex
            stamp = str(int(time.time()))
            body = json.dumps({"order": msg_id}).encode()
            signature = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
            if health:  # the same server's cheapest route: the HTTP stack's own ceiling
                request = f"GET /api/v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            else:
                request = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nwebhook-id: {msg_id}\r\nwebhook-timestamp: {stamp}\r\n"
                    f"webhook-signature: v1,{signature.decode()}\r\n\r\n"
                ).encode() + body
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            out["ok" if 200 <= status < 300 else "failed"].append(time.perf_counter() - started)
    finally:
        writer.close()


async def main(url: str, path: str, secret: str, seconds: float, connections: int, *, health: bool) -> None:
    parts = urlsplit(url)
    out: dict[str, list[float]] = {"ok": [], "failed": []}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(parts.hostname or "127.0.0.1", parts.port or 80, path, _key(secret), deadline, out, health=health)
          for _ in range(connections))
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "ok": out["ok"], "failed": len(out["failed"])}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("secret")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--health", action="store_true", help="GET /api/v1/health instead: the HTTP floor")
    args = parser.parse_args()
    uvloop.run(main(args.url, args.path, args.secret, args.seconds, args.connections, health=args.health))
