"""Local mode's guard: only the app itself may drive a ``serve --local`` server.

Local mode serves without sign-in, so anything that can reach its port could act as the
desktop user: a web page the user visits (by DNS rebinding, or by a cross-origin form post)
included. Three checks keep such pages out, as Jupyter and Ollama do; each request
(page, API, WebSocket) passes all three before anything else sees it:

1. **Host allow-list.** The ``Host`` header must be ``127.0.0.1:PORT``, ``localhost:PORT`` or
   ``[::1]:PORT`` (PORT: the port the request arrived on). A rebinding page's requests carry
   its own host name.
2. **Launch token.** A token made at each start, printed as ``http://127.0.0.1:PORT/?token=…``.
   A request must carry it as the ``synthral_local`` cookie or ``Authorization: Bearer``.
   A request that carries it as ``?token=`` or in the header gets the cookie (``HttpOnly;
   SameSite=Strict``); the ``/`` page with ``?token=`` is redirected to its URL without it.
3. **Origin.** A state-changing request (any method but GET, HEAD, OPTIONS) and every
   WebSocket whose ``Origin`` is present and not the app's own is refused: a page on another
   local port is "same-site" for cookies, so the cookie alone would not stop it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final
from urllib.parse import parse_qsl, urlencode

from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synthral.api.problems import problem

__all__ = ["COOKIE", "LAUNCH_BEARER", "LocalGuard", "launch_url", "new_launch_token"]

COOKIE: Final = "synthral_local"
"""The cookie that carries the launch token."""
LAUNCH_BEARER: Final = "synthral.launch_bearer"
"""Set in the request's state when ``Authorization: Bearer`` is the launch token (no other credential)."""
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")


def new_launch_token() -> str:
    """A fresh launch token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def launch_url(host: str, port: int, token: str) -> str:
    """The URL that opens the app and hands it the token, e.g. ``http://127.0.0.1:8000/?token=…``."""
    name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}/?token={token}"


class LocalGuard:
    """Host allow-list, launch token and Origin check in front of everything in local mode.

    Args:
        app: The application behind the guard.
        token: This launch's token.
    """

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request or WebSocket, then pass it on (or answer it here)."""
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        port = (scope.get("server") or ("", 0))[1]
        allowed = {f"{name}:{port}" for name in LOOPBACK_NAMES}
        host = headers.get("host", "")
        if host.lower() not in allowed:
            await self._refuse(
                scope,
                send,
                problem(
                    403,
                    f"host {host[:100]!r} is not this local server's; open it as http://127.0.0.1:{port}/ "
                    "(a page under another host name may not drive it)",
                    code="host_not_allowed",
                ),
            )
            return
        origin = headers.get("origin")
        changes_state = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if changes_state and origin is not None and origin.lower() not in {f"http://{name}" for name in allowed}:
            await self._refuse(
                scope,
                send,
                problem(
                    403,
                    f"origin {origin[:100]!r} is not this app's; requests that change something are accepted "
                    f"only from pages of http://127.0.0.1:{port}",
                    code="origin_not_allowed",
                ),
            )
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        from_query = [value for key, value in query if key == "token"]
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        bearer = bearer.strip() if scheme.lower() == "bearer" else ""
        by_bearer = self._matches(bearer)
        if from_query and not self._matches(from_query[-1]):
            await self._refuse(scope, send, self._unauthorized(port, "the token in the URL is not this launch's; "))
            return
        if not (from_query or by_bearer or self._matches(cookie_parser(headers.get("cookie", "")).get(COOKIE, ""))):
            await self._refuse(scope, send, self._unauthorized(port, ""))
            return
        if by_bearer:
            scope.setdefault("state", {})[LAUNCH_BEARER] = True
        if not (from_query or by_bearer):
            await self.app(scope, receive, send)
            return
        # The token came in the URL or the header: hand it back as the cookie, so that the
        # pages and requests that follow carry it without it staying in a URL.
        cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        rest = urlencode([(key, value) for key, value in query if key != "token"])
        if from_query:
            scope = {**scope, "query_string": rest.encode("latin-1")}
        if from_query and scope["type"] == "http" and scope["method"] in {"GET", "HEAD"} and scope["path"] == "/":
            redirect = RedirectResponse("/" + (f"?{rest}" if rest else ""), status_code=302)
            redirect.headers["set-cookie"] = cookie
            redirect.headers["cache-control"] = "no-store"
            await redirect(scope, receive, send)
            return
        await self.app(scope, receive, _with_cookie(send, cookie))

    def _matches(self, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), self.token.encode())

    @staticmethod
    def _unauthorized(port: int, why: str) -> Response:
        return problem(
            401,
            f"{why}this local server needs the token it printed at start: open the URL "
            f"'synthral serve --local' printed (http://127.0.0.1:{port}/?token=…), "
            "or send 'Authorization: Bearer <launch token>'",
            code="launch_token_required",
        )

    @staticmethod
    async def _refuse(scope: Scope, send: Send, response: Response) -> None:
        if scope["type"] == "http":
            await response(scope, _nothing, send)
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status_code,
                    "headers": response.raw_headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1008})


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _with_cookie(send: Send, cookie: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] in {"http.response.start", "websocket.accept"}:
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode("latin-1"))]}
        await send(message)

    return sending
