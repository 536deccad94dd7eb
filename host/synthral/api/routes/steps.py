"""Blobs a run's steps read or wrote, for previews in the execution view."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import FileResponse

from synthral.api.access import Viewer
from synthral.api.state import ServerState, server_of
from synthral.errors import NotFound
from synthral.services.step_blobs import find_step_blob

__all__ = ["INLINE_TYPES", "router"]

router = APIRouter(tags=["executions"])
Server = Annotated[ServerState, Depends(server_of)]
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
INLINE_TYPES = re.compile(r"^(?:image/(?:png|jpeg|gif|webp|bmp)|text/plain|application/json)$")
"""Shown in the page; anything else (HTML, SVG, PDF...) is sent as a download."""


@router.get("/executions/{execution_id}/blobs/{digest}", response_class=FileResponse)
async def step_blob(execution_id: str, digest: str, access: Viewer, server: Server) -> FileResponse:
    """A blob one of the run's steps read or wrote (images, text and JSON inline, the rest as a download)."""
    if not DIGEST.match(digest):
        raise NotFound("a blob is named 'sha256:' and 64 lowercase hex digits", details={"digest": digest[:80]})
    blob = await find_step_blob(
        server.app.workflows, server.app.plugins.blobs, execution_id, digest, workspace_id=access.workspace_id
    )
    inline = bool(INLINE_TYPES.match(blob.media_type))
    filename = blob.name or digest.removeprefix("sha256:")[:16]
    return FileResponse(
        blob.path,
        media_type=blob.media_type if inline else "application/octet-stream",
        content_disposition_type="inline" if inline else "attachment",
        filename=filename,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )
