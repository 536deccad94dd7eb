"""Cross-origin use of the chat copilot: the embeddable widget on another site's pages.

Browsers let a page call another origin's API only when that API answers with CORS headers.
The server sends them for the chat routes (``/api/v1/chat...``) and only to the origins an
administrator lists in ``SYNTHRAL_COPILOT_EMBED_ORIGINS`` (``copilot.embed_origins``); a
browser request from any other foreign origin is refused with a problem naming the setting,
before authentication or the body is read. Requests without ``Origin`` (servers, scripts) and
the app's own pages pass untouched. The credential is always a bearer header (an API key
scoped to one workflow), never a cookie, so no ``Access-Control-Allow-Credentials``.

The same list decides which sites may frame ``/embed.html`` (its ``frame-ancestors``) and
open the ``/api/agws`` WebSocket from their pages (:mod:`synthral.api.routes.chat_bridge`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synthral.api.problems import problem
from synthral.config import normalize_origin

__all__ = ["CHAT_PATHS", "EMBED_PAGE", "ChatCors", "allowed_origin"]

CHAT_PATHS: Final = re.compile(r"^/api/v1/chat(?:/.*)?$")
EMBED_PAGE: Final = "/embed.html"
ALLOW_METHODS: Final = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS: Final = "authorization, content-type, accept, x-workspace"
MAX_AGE: Final = "600"
SETTING: Final = "SYNTHRAL_COPILOT_EMBED_ORIGINS"


def allowed_origin(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool | None:
    """Whether a browser page at ``origin`` may use the chat: None when it is no cross-origin request.

    Args:
        origin: The request's ``Origin`` header (None when absent).
        host: Its ``Host`` header: an origin naming the same host and port is the app itself.
        allowed: The configured origins, normalized.
    """
    if origin is None:
        return None
    try:
        normalized = normalize_origin(origin)
    except ValueError:
        return False  # "null" (a sandboxed frame, a file) or garbage: never listed
    if host and normalized.split("://", 1)[1] == host.lower():
        return None
    return normalized in allowed


class ChatCors:
    """CORS for the chat routes, for the configured origins only.

    Args:
        app: The application behind it (the gate and the routes).
        origins: The origins allowed to embed the widget, as configured.
    """

    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(normalize_origin(origin) for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, refuse a foreign origin, or pass the request on with CORS headers added."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        if path == EMBED_PAGE:
            await self.app(scope, receive, self._framed(send))
            return
        if not CHAT_PATHS.match(path):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        origin = headers.get("origin")
        verdict = allowed_origin(origin, headers.get("host"), self.origins)
        if verdict is None:
            await self.app(scope, receive, send)
            return
        if not verdict:
            listed = ", ".join(sorted(self.origins)) or "none"
            detail = (
                f"a page at {origin} may not call the chat API (origins allowed: {listed}); "
                f"the server's administrator adds the page's origin to {SETTING} to embed the copilot there"
            )
            refused = problem(
                403, detail, code="origin_not_allowed", extra={"origin": origin}, headers={"Vary": "Origin"}
            )
            await refused(scope, receive, send)
            return
        assert origin is not None  # a verdict other than None means an Origin header
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, send)
            return
        await self.app(scope, receive, self._with_cors(origin, send))

    @staticmethod
    async def _preflight(origin: str, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                    (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                    (b"access-control-max-age", MAX_AGE.encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _with_cors(origin: str, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = origin
                headers["Access-Control-Expose-Headers"] = "content-type, retry-after"
                headers.append("Vary", "Origin")
            await send(message)

        return sending

    def _framed(self, send: Send) -> Send:
        """``/embed.html`` may be framed by the configured origins (every other page by none)."""
        if not self.origins:
            return send
        ancestors = " ".join(["'self'", *sorted(self.origins)])

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                policy = headers.get("content-security-policy")
                if policy is not None:
                    headers["Content-Security-Policy"] = policy.replace(
                        "frame-ancestors 'none'", f"frame-ancestors {ancestors}"
                    )
                if "x-frame-options" in headers:
                    del headers["X-Frame-Options"]  # frame-ancestors decides; the old header knows no list
            await send(message)

        return sending
