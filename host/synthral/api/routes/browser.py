"""Browser automation: run actions in a session, watch a JavaScript page, read a session's record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, status

from synthral.api.access import Editor, Viewer
from synthral.api.routes.scraping import web
from synthral.api.state import ServerState, server_of
from synthral.services.browser import BrowserRequest
from synthral.services.watch import BROWSER_WATCH_ENGINE, WatchRequest

__all__ = ["router"]

router = APIRouter(prefix="/browser", tags=["browser"])
Server = Annotated[ServerState, Depends(server_of)]


@router.post("/execute")
async def execute(body: BrowserRequest, access: Editor, server: Server) -> dict[str, Any]:
    """Run actions in a browser session (a new one unless ``session_id`` is given) and answer each one's result."""
    return await web(server).browser.execute(body, workspace_id=access.workspace_id, user_id=access.principal.user_id)


@router.post("/monitor", status_code=status.HTTP_201_CREATED)
async def monitor(body: WatchRequest, access: Editor, server: Server) -> dict[str, Any]:
    """Watch a page rendered by a browser (JavaScript pages): like /scraping/change-detection on a browser engine."""
    if "engine" not in body.model_fields_set:
        body = body.model_copy(update={"engine": BROWSER_WATCH_ENGINE})
    return await web(server).watch.create(body, workspace_id=access.workspace_id, user_id=access.principal.user_id)


@router.get("/session/{session_id}")
async def session(session_id: Annotated[str, Path(max_length=64)], access: Viewer, server: Server) -> dict[str, Any]:
    """A session and its actions in order (screenshots as blob references); never its cookies."""
    return await web(server).browser.session(access.workspace_id, session_id)


@router.post("/session/{session_id}/close", status_code=status.HTTP_204_NO_CONTENT)
async def close(session_id: Annotated[str, Path(max_length=64)], access: Editor, server: Server) -> None:
    """Close a session and forget its cookies and storage."""
    await web(server).browser.close(access.workspace_id, session_id)
