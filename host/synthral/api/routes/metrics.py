"""``GET /metrics``: the Prometheus text exposition, by scrape token or from this machine."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from synthral.api.state import ServerState, server_of
from synthral.observability.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["metrics"])
Server = Annotated[ServerState, Depends(server_of)]


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, server: Server) -> Response:
    """Every series (docs/observability.md); ``Authorization: Bearer $SYNTHRAL_METRICS_TOKEN`` or loopback."""
    server.telemetry.check(request.client.host if request.client else None, request.headers.get("authorization"))
    body = await server.telemetry.render()
    return Response(body, media_type=CONTENT_TYPE)
