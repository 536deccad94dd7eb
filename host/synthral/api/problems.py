"""Errors as RFC 9457 problem details (``application/problem+json``), mapped in one place."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from synthral.engine.repository import WorkflowNotFound
from synthral.errors import (
    AuthenticationFailed,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InputInvalid,
    NotFound,
    PluginAlreadyInstalled,
    PluginNotFound,
    RateLimited,
    SynthralError,
    WorkflowInvalid,
)
from synthral.services.workflows import ExecutionNotFound
from synthral.store.outage import unavailable

__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_RESPONSES",
    "Problem",
    "error_problem",
    "install_problem_handlers",
    "problem",
    "status_of",
    "unexpected_problem",
]

log = logging.getLogger("synthral.api")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER = 5
"""Seconds a client is asked to wait when the database is unavailable."""
_STATUS: tuple[tuple[type[SynthralError], int], ...] = (
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (WorkflowNotFound, 404),
    (ExecutionNotFound, 404),
    (PluginNotFound, 404),
    (Conflict, 409),
    (PluginAlreadyInstalled, 409),
    (RateLimited, 429),
    (WorkflowInvalid, 422),
    (InputInvalid, 422),
)
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="A stable, machine-readable name of the problem.")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": _TITLES[status], "model": Problem, "content": {PROBLEM_JSON: {}}}
    for status in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
"""Documented on every route: the errors any of them can answer."""


def unavailable_problem(error: DatabaseUnavailable) -> Response:
    """503 with Retry-After: the database is down, restarting, full or read-only; the request may be repeated."""
    return problem(
        503,
        error.message,
        code=error.code,
        extra={"details": error.details, "retry_after": RETRY_AFTER},
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def status_of(error: SynthralError) -> int:
    """The HTTP status for an error: the first class in the table it is an instance of."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 503 if error.retryable else 400


def problem(
    status: int,
    detail: str,
    *,
    code: str = "error",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"https://synthral.dev/problems/{code.replace('_', '-')}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="synthral"')
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


def error_problem(error: SynthralError) -> Response:
    """The problem+json answer to one of our errors."""
    if isinstance(error, DatabaseUnavailable):
        return unavailable_problem(error)
    status = status_of(error)
    headers = {}
    if status == 429 and isinstance(error.details.get("retry_after"), int | float):
        headers["Retry-After"] = str(max(1, round(float(error.details["retry_after"]))))  # type: ignore[arg-type]
    return problem(status, error.message, code=error.code, extra={"details": error.details}, headers=headers)


def unexpected_problem(method: str, path: str, error: Exception) -> Response:
    """Log an error nobody expected (with its traceback) and answer 500 without its details."""
    log.error("unexpected error on %s %s", method, path, exc_info=error)
    return problem(500, "the server failed to handle the request; it has been logged", code="internal_error")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, as problem+json (a database outage as 503, logged once per outage)."""

    @app.exception_handler(SynthralError)
    async def _synthral(request: Request, exc: SynthralError) -> Response:
        del request
        return error_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        del request
        issues = [
            {"location": ".".join(str(part) for part in error.get("loc", ())), "message": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        first = issues[0] if issues else {"location": "", "message": "invalid"}
        return problem(
            422,
            f"{first['location']}: {first['message']}" + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""),
            code="request_invalid",
            extra={"errors": issues},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        del request
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), code=f"http_{exc.status_code}", headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        trouble = unavailable(exc)
        if trouble is not None:
            request.app.state.server.app.engine.outage.failed(trouble)  # the process's: said once per outage
            return unavailable_problem(trouble)
        return unexpected_problem(request.method, request.url.path, exc)
