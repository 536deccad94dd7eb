"""A real local HTTP server with the routes the node's tests need, and helpers to call the node."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from synthral_http import HttpRequest

from synthral_sdk import BlobStore, Context
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.types import JSONObject

SECRET = "s3cr3t-t0ken-VALUE"
"""The credential the auth-protected routes accept."""

BASIC_USER = "ada"


def _png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG, built by hand so the tests need no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # One filter byte per row, then the row's pixels.
    raw = b"".join(b"\x00" + b"".join(bytes((x * 80, y * 120, 200)) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG_BYTES = _png()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RouteServer

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # keep test output clean

    # -- helpers ---------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", content_type: str | None = None, **headers: str) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: object, status: int = 200, content_type: str = "application/json") -> None:
        self._send(status, json.dumps(value).encode(), content_type)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _echo(self, status: int = 200) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        self._json(
            {
                "method": self.command,
                "path": split.path,
                "query": parse_qs(split.query, keep_blank_values=True),
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body.decode("utf-8", errors="replace"),
                "body_b64": base64.b64encode(body).decode(),
            },
            status,
        )

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; return whether it is still running."""
        return not self.server.stopping.wait(seconds)

    # -- routing ---------------------------------------------------------------------

    def _route(self) -> None:
        self.server.received.append(self.path)
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        if path == "/json":
            self._json({"hello": "world", "n": 1})
        elif path == "/problem":
            self._json({"title": "nope"}, content_type="application/problem+json")
        elif path == "/json-bad":
            self._send(200, b"{not json", "application/json")
        elif path == "/text":
            self._send(200, "héllo wörld".encode(), "text/plain; charset=utf-8")
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=iso-8859-1")
        elif path == "/xml":
            self._send(200, b"<a><b>1</b></a>", "application/xml")
        elif path == "/json-as-text":
            self._send(200, b'{"x": 2}', "text/plain")
        elif path == "/image.png":
            self._send(200, PNG_BYTES, "image/png")
        elif path == "/download":
            self._send(
                200,
                b"\x00\x01binary\xff",
                "application/octet-stream",
                Content_Disposition='attachment; filename="report.bin"',
            )
        elif path == "/untyped":
            self._send(200, b"plain words without a type")
        elif path == "/untyped-binary":
            self._send(200, b"\x00\xff\xfe binary")
        elif path == "/big":
            size = int(query["size"][0])
            self._send(200, b"x" * size, "text/plain")
        elif path == "/gzip":
            self._send(200, gzip.compress(b'{"zipped": true}'), "application/json", Content_Encoding="gzip")
        elif path == "/bad-gzip":
            self._send(200, b"this is not gzip at all", "application/json", Content_Encoding="gzip")
        elif path == "/cookies":
            self.send_response(200)
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
            self.send_header("X-Custom", "yes")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/empty":
            self.send_response(204)
            self.end_headers()
        elif path == "/echo":
            self._echo()
        elif path.startswith("/redirect/"):
            left = int(path.rsplit("/", 1)[1])
            target = f"/redirect/{left - 1}" if left > 1 else "/json"
            self._send(302, b"", Location=target)
        elif path == "/loop":
            self._send(302, b"", Location="/loop")
        elif path == "/redirect-to":
            self._send(int(query.get("status", ["302"])[0]), b"", Location=query["url"][0])
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            extra = {"Retry_After": query["retry_after"][0]} if "retry_after" in query else {}
            self._send(status, f"status {status} body".encode(), "text/plain", **extra)
        elif path == "/echo-400":
            self._echo(400)
        elif path == "/slow":
            if self._sleep(float(query.get("seconds", ["3"])[0])):
                self._json({"slow": True})
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                if not self._sleep(0.1):
                    return
                self.wfile.write(b"x")
                self.wfile.flush()
        elif path == "/drop":
            self.close_connection = True  # answer nothing: the client sees a protocol error
        elif path == "/basic":
            expected = "Basic " + base64.b64encode(f"{BASIC_USER}:{SECRET}".encode()).decode()
            self._guarded(self.headers.get("Authorization") == expected, 'Basic realm="test"')
        elif path == "/bearer":
            self._guarded(self.headers.get("Authorization") == f"Bearer {SECRET}", 'Bearer realm="test"')
        elif path == "/key-header":
            self._guarded(self.headers.get("X-Api-Key") == SECRET, "ApiKey")
        elif path == "/key-query":
            self._guarded(query.get("api_key") == [SECRET], "ApiKey")
        else:
            self._send(404, b"no such route", "text/plain")

    def _guarded(self, allowed: bool, challenge: str) -> None:
        if allowed:
            self._json({"authenticated": True})
        else:
            self._send(401, b"missing or wrong credential", "text/plain", WWW_Authenticate=challenge)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _route  # noqa: N815 -- http.server's names


class RouteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.stopping = threading.Event()
        self.received: list[str] = []  # request targets, in arrival order

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or cancel leave handlers writing into closed sockets;
        # that is what those tests do on purpose, not a failure.
        del request, client_address


@dataclass(frozen=True)
class Server:
    """A running test server."""

    base: str
    httpd: RouteServer

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base + path

    def wait_for_request(self, target: str, timeout: float = 10.0) -> None:
        """Block until a request for ``target`` (path and query) has arrived."""
        deadline = time.monotonic() + timeout
        while target not in self.httpd.received:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no request for {target} arrived within {timeout} s")
            time.sleep(0.01)


def serve(httpd: RouteServer) -> Iterator[Server]:
    """Run ``httpd`` in a daemon thread while the generator is suspended."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    scheme = "https" if hasattr(httpd.socket, "context") else "http"
    try:
        yield Server(f"{scheme}://127.0.0.1:{httpd.server_address[1]}", httpd)
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def invoke(
    payload: object,
    *,
    blobs: BlobStore,
    config: object = None,
    secrets: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> JSONObject:
    """Call the node in process with a context the test builds (``testing.call`` sets no idempotency key)."""
    context = Context(
        blobs=blobs, secrets=secrets, idempotency_key=idempotency_key, network=NetworkPolicy.local()
    )  # the test servers are on this machine
    return asyncio.run(HttpRequest().call("run", {} if config is None else config, payload, context))
