"""The webhook ingress routes, dispatched ahead of FastAPI's router.

Deliveries are the one kind of request that arrives by the thousand per second. FastAPI
finds a route by trying every route in turn and then resolves its dependencies, which costs
a delivery more than storing it does. This layer sits behind the gate (limits and body caps
still apply) and sends a well-formed delivery straight to its route function; anything else,
including a malformed delivery URL, goes on to the router, which answers as it always does.
The route functions stay the only implementation, and the OpenAPI schema still describes them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from synthral.api.problems import error_problem, unexpected_problem
from synthral.api.routes import connectors, hooks
from synthral.api.state import ServerState
from synthral.errors import SynthralError

__all__ = ["Ingress"]

_HOOK = re.compile(r"/api/v1/hooks/([^/]{1,200})")
_CONNECTOR_HOOK = re.compile(r"/api/v1/connectors/([^/]{1,100})/webhook")

Call = Callable[[Request], Awaitable[BaseModel]]


class Ingress:
    """Answers ``POST /api/v1/hooks/{id}`` and ``POST /api/v1/connectors/{slug}/webhook`` directly.

    Args:
        app: The application behind (FastAPI), for every other request.
        server: The services the route functions use.
    """

    def __init__(self, app: ASGIApp, *, server: ServerState) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Deliver, or pass the request on."""
        call = self._route(scope) if scope["type"] == "http" and scope["method"] == "POST" else None
        if call is None:
            await self.app(scope, receive, send)
            return
        try:
            accepted = await call(Request(scope, receive))
            response = Response(orjson.dumps(accepted.model_dump()), status_code=202, media_type="application/json")
        except SynthralError as exc:
            response = error_problem(exc)
        except Exception as exc:  # noqa: BLE001 -- answered 500 and logged, like every route
            response = unexpected_problem("POST", str(scope["path"]), exc)
        await response(scope, receive, send)

    def _route(self, scope: Scope) -> Call | None:
        path = str(scope["path"])
        server = self.server
        if found := _HOOK.fullmatch(path):
            workflow_id = found.group(1)
            return lambda request: hooks.deliver(workflow_id, request, server)
        if found := _CONNECTOR_HOOK.fullmatch(path):
            slug = found.group(1)
            workflow = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("workflow", [])
            if len(workflow) != 1 or not 0 < len(workflow[0]) <= connectors.WORKFLOW_ID_MAX:
                return None  # the router answers what is wrong with the query
            return lambda request: connectors.connector_webhook(slug, request, server, workflow[0])
        return None
