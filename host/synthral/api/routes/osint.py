"""OSINT: subscribe to live source streams, make alert rules, build and schedule digests.

Routes are thin: :class:`~synthral.services.osint.service.OsintService` checks and writes;
the scheduler polls the streams and sends the digests.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from synthral.api.access import Editor, Viewer
from synthral.api.auditing import audit
from synthral.api.pagination import Page
from synthral.api.state import ServerState, server_of
from synthral.errors import Forbidden
from synthral.services.osint.rules import AlertChange, DigestChange, OsintRules
from synthral.services.osint.service import AlertRequest, DigestRequest, OsintService, StreamRequest
from synthral.store.tables import Role

__all__ = ["router"]

router = APIRouter(prefix="/osint", tags=["osint"])
Server = Annotated[ServerState, Depends(server_of)]


def _osint(server: ServerState) -> OsintService:
    return OsintService(server.app.database, server.app.workflows)


@router.post("/stream", status_code=status.HTTP_201_CREATED)
async def subscribe_stream(request: Request, body: StreamRequest, access: Editor, server: Server) -> dict[str, Any]:
    """Subscribe to a source as a live stream (and its history since ``backfill_since``); the scheduler polls it."""
    made = await _osint(server).subscribe(access.workspace_id, access.principal.user_id, body)
    await audit(
        request,
        access,
        "osint.stream.create",
        target_type="osint_stream",
        target_id=made.id,
        details={"source": body.source, "name": body.name},
    )
    return made.view


@router.get("/streams", response_model=Page[dict[str, Any]])
async def list_streams(access: Viewer, server: Server) -> Page[dict[str, Any]]:
    """The workspace's streams with their cursors and counts, by name, in one page."""
    return Page(items=await _osint(server).streams(access.workspace_id))


class StreamChange(BaseModel):
    """Pause or resume a stream."""

    model_config = ConfigDict(extra="forbid")

    active: bool = Field(description="False pauses the stream; True resumes it from its cursor.")


@router.patch("/streams/{stream_id}")
async def change_stream(
    request: Request, stream_id: str, body: StreamChange, access: Editor, server: Server
) -> dict[str, Any]:
    """Pause or resume a stream (a resumed stream is polled at the next pass, from its stored cursor)."""
    view = await _osint(server).set_stream_active(access.workspace_id, stream_id, body.active)
    action = "osint.stream.resume" if body.active else "osint.stream.pause"
    await audit(request, access, action, target_type="osint_stream", target_id=stream_id)
    return view


@router.delete("/streams/{stream_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_stream(request: Request, stream_id: str, access: Editor, server: Server) -> None:
    """Remove a stream and its alert rules; the signals it brought stay."""
    await _osint(server).delete_stream(access.workspace_id, stream_id)
    await audit(request, access, "osint.stream.delete", target_type="osint_stream", target_id=stream_id)


@router.post("/alerts", status_code=status.HTTP_201_CREATED)
async def create_alert(request: Request, body: AlertRequest, access: Editor, server: Server) -> dict[str, Any]:
    """Make an alert rule: each new signal that matches starts the workflow once, with the signal as input."""
    made = await _osint(server).create_alert(access.workspace_id, access.principal.user_id, body)
    await audit(request, access, "osint.alert.create", target_type="osint_alert", target_id=made.id)
    return made.view


@router.get("/alerts", response_model=Page[dict[str, Any]])
async def list_alerts(access: Viewer, server: Server) -> Page[dict[str, Any]]:
    """The workspace's alert rules, by name, with how many runs each started, in one page."""
    return Page(items=await _osint(server).alerts(access.workspace_id))


@router.patch("/alerts/{alert_id}")
async def change_alert(
    request: Request, alert_id: str, body: AlertChange, access: Editor, server: Server
) -> dict[str, Any]:
    """Change the fields the body names (``active: false`` mutes the rule); the rest keep their value."""
    view = await OsintRules(server.app.database).change_alert(access.workspace_id, alert_id, body)
    details: dict[str, Any] = {"fields": sorted(body.model_fields_set)}
    await audit(request, access, "osint.alert.update", target_type="osint_alert", target_id=alert_id, details=details)
    return view


@router.delete("/alerts/{alert_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alert(request: Request, alert_id: str, access: Editor, server: Server) -> None:
    """Remove an alert rule; the runs it started stay."""
    await OsintRules(server.app.database).delete_alert(access.workspace_id, alert_id)
    await audit(request, access, "osint.alert.delete", target_type="osint_alert", target_id=alert_id)


@router.post("/digest")
async def digest(request: Request, body: DigestRequest, access: Viewer, server: Server) -> dict[str, Any]:
    """The digest of the window's signals now; with ``schedule`` (editors), also sent at each slot to a workflow."""
    if body.schedule is not None and not access.allows(Role.EDITOR):
        raise Forbidden(
            "scheduling a digest needs the editor role; leave out 'schedule' to only read the digest",
            details={"field": "schedule"},
        )
    answer = await _osint(server).digest(access.workspace_id, body)
    if answer["schedule"] is not None:
        await audit(
            request, access, "osint.digest.schedule", target_type="osint_digest", target_id=answer["schedule"]["id"]
        )
    return answer


@router.get("/digests", response_model=Page[dict[str, Any]])
async def list_digests(access: Viewer, server: Server) -> Page[dict[str, Any]]:
    """The workspace's scheduled digests, by name, with their next slot and how many were sent, in one page."""
    return Page(items=await OsintRules(server.app.database).digests(access.workspace_id))


@router.patch("/digests/{digest_id}")
async def change_digest(
    request: Request, digest_id: str, body: DigestChange, access: Editor, server: Server
) -> dict[str, Any]:
    """Change the fields the body names; a new cron or time zone moves the next slot."""
    view = await OsintRules(server.app.database).change_digest(access.workspace_id, digest_id, body)
    details: dict[str, Any] = {"fields": sorted(body.model_fields_set)}
    await audit(
        request, access, "osint.digest.update", target_type="osint_digest", target_id=digest_id, details=details
    )
    return view


@router.delete("/digests/{digest_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_digest(request: Request, digest_id: str, access: Editor, server: Server) -> None:
    """Stop sending a scheduled digest and remove it; the runs it started stay."""
    await OsintRules(server.app.database).delete_digest(access.workspace_id, digest_id)
    await audit(request, access, "osint.digest.delete", target_type="osint_digest", target_id=digest_id)
