"""Local stand-ins of SaaS APIs, for connector tests (1.7).

A :class:`StandIn` is a real HTTP server on a loopback port (the standard library's threading
server, so plugin test environments need nothing more) with a route table. Each route
answers with a handler; every request is recorded, and a stand-in may demand the credential
the real service documents, answering 401 the way it does::

    api = StandIn(auth=BearerAuth("xoxb-test"))

    @api.route("POST", "/api/chat.postMessage")
    def post(request: Recorded) -> Reply:
        return Reply(200, {"ok": True, "ts": "1.1", "channel": request.json["channel"]})

    with api:
        call(action, {...}, config={"base_url": api.url}, secrets={"api_key": "xoxb-test"})
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

from synthral_sdk._json import JSONValue

__all__ = ["ApiKeyAuth", "BasicAuth", "BearerAuth", "Handler", "Recorded", "Reply", "StandIn"]


@dataclass(frozen=True)
class Recorded:
    """A request the stand-in received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> JSONValue:
        """The body as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, str]:
        """The body as a form (last value of each key)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query parameter's last value."""
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Reply:
    """What a handler answers."""

    status: int = 200
    body: JSONValue = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Handler = Callable[[Recorded], Reply]


class BearerAuth:
    """Wants ``Authorization: Bearer TOKEN``."""

    def __init__(self, token: str, header: str = "authorization", prefix: str = "Bearer ") -> None:
        self.header, self.expected = header, prefix + token

    def accepts(self, request: Recorded) -> bool:
        """Whether the request carries the credential."""
        return request.headers.get(self.header) == self.expected


class ApiKeyAuth:
    """Wants an API key in a header or a query parameter."""

    def __init__(self, key: str, *, header: str | None = None, query: str | None = None, prefix: str = "") -> None:
        self.key, self.header, self.query, self.prefix = key, header, query, prefix

    def accepts(self, request: Recorded) -> bool:
        """Whether the request carries the credential."""
        if self.header is not None:
            return request.headers.get(self.header.lower()) == self.prefix + self.key
        return request.arg(self.query or "api_key") == self.key


class BasicAuth:
    """Wants HTTP Basic credentials."""

    def __init__(self, username: str, password: str) -> None:
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def accepts(self, request: Recorded) -> bool:
        """Whether the request carries the credential."""
        return request.headers.get("authorization") == self.expected


Auth = BearerAuth | ApiKeyAuth | BasicAuth


class StandIn:
    """A local server speaking a service's documented API, from :meth:`route` handlers.

    Args:
        auth: The credential every request must carry; ``None`` for a public API.
        unauthorized: The body answered with 401 when the credential is missing or wrong.
    """

    def __init__(self, auth: Auth | None = None, unauthorized: JSONValue = None) -> None:
        self.auth = auth
        self.unauthorized: JSONValue = unauthorized or {"message": "Bad credentials"}
        self.requests: list[Recorded] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """Register a handler for ``method`` and ``path`` (``{name}`` matches one segment)."""
        pattern = re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")

        def register(handler: Handler) -> Handler:
            self._routes.append((method.upper(), pattern, handler))
            return handler

        return register

    def reply(
        self, method: str, path: str, body: JSONValue = None, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        """Answer ``method`` ``path`` with a fixed reply (a documented sample response)."""
        fixed = Reply(status, body, dict(headers or {}))
        self.route(method, path)(lambda request: fixed)

    def last(self, method: str | None = None) -> Recorded:
        """The last request received (of ``method`` when given)."""
        for request in reversed(self.requests):
            if method is None or request.method == method:
                return request
        raise AssertionError(f"the stand-in received no {method or ''} request")

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:50123``."""
        if self._server is None:
            raise RuntimeError("start the stand-in first (use it as a context manager)")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, request: Recorded) -> Reply:
        """Route one request (authentication first, as the real services do)."""
        if self.auth is not None and not self.auth.accepts(request):
            return Reply(401, self.unauthorized)
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(Recorded(**{**request.__dict__, "params": match.groupdict()}))
        return Reply(404, {"message": f"no route {request.method} {request.path}"})

    def start(self) -> Self:
        """Serve on a free loopback port in a thread."""
        stand_in = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave in two writes; no delayed-ACK stall

            def setup(self) -> None:
                super().setup()
                stand_in._connections.add(self.connection)

            def finish(self) -> None:
                super().finish()
                stand_in._connections.discard(self.connection)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = Recorded(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                stand_in.requests.append(request)
                reply = stand_in.answer(request)
                data = (
                    reply.raw
                    if reply.raw is not None
                    else b""
                    if reply.body is None
                    else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                headers = {"content-type": "application/json", **{k.lower(): v for k, v in reply.headers.items()}}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815 -- the server's names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for connection in list(self._connections):  # keep-alive connections a client left open
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
