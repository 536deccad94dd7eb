"""The gate every HTTP request passes before any route: limits, then authentication.

A pure ASGI middleware, so it runs before FastAPI reads or parses the body: an anonymous
request is refused with nothing of it parsed, an oversized body is refused before it is read
whole, and a JSON body nested too deep is refused before a parser sees it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synthral.api.limits import RateLimiter, json_depth_exceeds, retry_after
from synthral.api.local import LAUNCH_BEARER
from synthral.api.problems import problem, unavailable_problem
from synthral.config import LimitSettings
from synthral.errors import AuthenticationFailed, RateLimited
from synthral.services.accounts import Principal
from synthral.store.outage import unavailable

__all__ = ["PUBLIC_PATHS", "Gate"]

PUBLIC_PATHS = re.compile(
    r"^/api/v1/(?:openapi\.json|docs(?:/assets/[A-Za-z0-9._-]+)?|health"
    r"|auth/(?:login|refresh|methods|oidc/(?:login|callback))"
    r"|connectors/[^/]+/(?:callback|webhook)|hooks/[^/]+|ws)/?$"
)
"""Routes that authenticate by other means (a password, a signature, an OAuth state) or none."""
UPLOAD_PATHS = re.compile(r"^/api/v1/(?:plugins|connectors/register|ocr/extract|ocr/batch|blobs)/?$")
STREAMED_UPLOADS = re.compile(r"^/api/v1/(?:ocr/extract|ocr/batch|blobs)/?$")
"""Multipart uploads passed on as they arrive (the form parser spools files to disk), still capped."""
SCOPED_KEY_PATHS = re.compile(r"^/api/v1/(?:chat(?:/.*)?|auth/me)/?$")
"""What an API key scoped to one workflow may call: the chat copilot (which keeps it to that workflow)."""

Authenticate = Callable[[str], Awaitable[Principal]]


class _TooLarge(Exception):
    pass


class Gate:
    """Limits and authentication for ``/api/v1``.

    Args:
        app: The application behind the gate.
        authenticate: Turns a bearer token into a principal (raises AuthenticationFailed).
        local: A principal every request gets without credentials (local mode, behind
            :class:`synthral.api.local.LocalGuard`), or None.
        limits: The limits.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        local: Callable[[], Awaitable[Principal]] | None,
        limits: LimitSettings,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.local = local
        self.limits = limits
        self.per_ip = RateLimiter(limits.ip_rate, limits.ip_burst)
        self.per_user = RateLimiter(limits.user_rate, limits.user_burst)
        self.logins = RateLimiter(limits.login_rate, limits.login_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then pass it on (or answer it here)."""
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        client = (scope.get("client") or ("?", 0))[0]
        if wait := self.per_ip.take(client):
            await self._refuse(send, 429, "too many requests from this address; slow down", "rate_limited", wait)
            return
        if path.startswith("/api/v1/auth/login") and (wait := self.logins.take(client)):
            await self._refuse(send, 429, "too many sign-in attempts from this address", "rate_limited", wait)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        state = scope.setdefault("state", {})
        if not PUBLIC_PATHS.match(path):
            try:
                principal = await self._principal(headers, launch_bearer=bool(state.get(LAUNCH_BEARER)))
            except AuthenticationFailed as exc:
                await self._send(send, problem(401, exc.message, code=exc.code))
                return
            except RateLimited as exc:
                await self._refuse(send, 429, exc.message, exc.code, float(exc.details.get("retry_after", 1)))  # type: ignore[arg-type]
                return
            except Exception as exc:  # the database behind the accounts may be down: 503, not a crash
                trouble = unavailable(exc)
                if trouble is None:
                    raise
                await self._send(send, unavailable_problem(trouble))
                return
            if wait := self.per_user.take(principal.user_id):
                await self._refuse(send, 429, "too many requests for this account; slow down", "rate_limited", wait)
                return
            if principal.workflow_id is not None and not SCOPED_KEY_PATHS.match(path):
                detail = "this API key is scoped to one workflow's chat copilot; it may only call /api/v1/chat"
                await self._send(send, problem(403, detail, code="forbidden"))
                return
            state["principal"] = principal
        cap = self.limits.max_upload if UPLOAD_PATHS.match(path) else self.limits.max_body
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            await self._send(send, problem(413, f"the request body is over the limit of {cap} bytes", code="too_large"))
            return
        if STREAMED_UPLOADS.match(path) and headers.get("content-type", "").startswith("multipart/form-data"):
            await self._stream(scope, receive, send, cap)
            return
        try:
            body = await _read_body(receive, cap)
        except _TooLarge:
            await self._send(send, problem(413, f"the request body is over the limit of {cap} bytes", code="too_large"))
            return
        if "json" in headers.get("content-type", "") and json_depth_exceeds(body, self.limits.max_json_depth):
            await self._send(
                send,
                problem(
                    422,
                    f"the JSON body nests deeper than {self.limits.max_json_depth} levels",
                    code="json_too_deep",
                ),
            )
            return
        await self.app(scope, _replay(body, receive), send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        """Pass the body on chunk by chunk; past ``cap`` the request ends with 413 if nothing was answered."""
        size = 0
        started = False

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > cap:
                raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._send(send, problem(413, f"the upload is over the limit of {cap} bytes", code="too_large"))

    async def _principal(self, headers: dict[str, str], *, launch_bearer: bool) -> Principal:
        authorization = headers.get("authorization", "")
        if self.local is not None and (not authorization or launch_bearer):
            return await self.local()  # the local guard has checked the launch token
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return await self.authenticate(token.strip())
        raise AuthenticationFailed("sign in first: send 'Authorization: Bearer <access token or API key>'")

    async def _refuse(self, send: Send, status: int, detail: str, code: str, wait: float) -> None:
        seconds = retry_after(wait)
        await self._send(
            send,
            problem(status, detail, code=code, extra={"retry_after": seconds}, headers={"Retry-After": str(seconds)}),
        )

    @staticmethod
    async def _send(send: Send, response: Any) -> None:
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _read_body(receive: Receive, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
