"""Routes only the desktop app's host mounts: watched folders, dropped files, the tray's counts.

They read files of this machine on behalf of the one local user, so a server never mounts
them; the desktop's host adds them with ``create_app(state, extra=(desktop.router,))`` and
puts its :class:`~synthral.services.watched_folders.FileTriggers` in ``app.state.file_triggers``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from synthral.api.access import Editor, Viewer
from synthral.services.watched_folders import FileTriggers

__all__ = ["router"]

router = APIRouter(prefix="/desktop", tags=["desktop"])


def _triggers(request: Request) -> FileTriggers:
    triggers: FileTriggers = request.app.state.file_triggers
    return triggers


Triggers = Annotated[FileTriggers, Depends(_triggers)]


class FolderRequest(BaseModel):
    """A folder to watch."""

    model_config = {"extra": "forbid"}

    workflow: str = Field(min_length=1, max_length=200, description="The workflow (name or id) a new file starts.")
    path: str = Field(min_length=1, max_length=4096, description="The folder's absolute path.")
    pattern: str = Field(default="*", max_length=200, description="A glob on file names, e.g. '*.pdf'.")


class FolderInfo(BaseModel):
    """A watched folder."""

    id: str
    workflow_id: str
    workflow: str
    path: str
    pattern: str


class FilesRequest(BaseModel):
    """Files to start a workflow with, one run each."""

    model_config = {"extra": "forbid"}

    workflow: str = Field(min_length=1, max_length=200)
    paths: list[str] = Field(max_length=100, description="Absolute paths of files on this machine.")


class Started(BaseModel):
    """The runs that were queued."""

    execution_ids: list[str]


class PauseRequest(BaseModel):
    """Pause or resume every schedule."""

    model_config = {"extra": "forbid"}

    paused: bool


@router.get("/watched-folders")
async def list_folders(access: Viewer, triggers: Triggers) -> dict[str, Any]:
    """The watched folders."""
    items = [asdict(folder) for folder in await triggers.folders(access.workspace_id)]
    return {"items": items, "next_cursor": None}


@router.post("/watched-folders", status_code=status.HTTP_201_CREATED, response_model=FolderInfo)
async def add_folder(request: FolderRequest, access: Editor, triggers: Triggers) -> FolderInfo:
    """Watch a folder: each new file (and each file there now) starts the workflow once."""
    folder = await triggers.add_folder(access.workspace_id, request.workflow, request.path, request.pattern)
    return FolderInfo(**asdict(folder))


@router.delete("/watched-folders/{folder_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_folder(folder_id: str, access: Editor, triggers: Triggers) -> Response:
    """Stop watching a folder."""
    await triggers.remove_folder(access.workspace_id, folder_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/files", status_code=status.HTTP_202_ACCEPTED, response_model=Started)
async def start_with_files(request: FilesRequest, access: Editor, triggers: Triggers) -> Started:
    """Start the workflow once per file, each stored as a blob (input: file, name, path, source)."""
    ids = await triggers.start_with_files(access.workspace_id, request.workflow, request.paths)
    return Started(execution_ids=ids)


@router.get("/summary")
async def summary(access: Viewer, triggers: Triggers) -> dict[str, Any]:
    """Running, waiting and recently failed counts, and the recent workflows, for the tray."""
    return await triggers.summary(access.workspace_id)


@router.post("/schedules/pause")
async def pause_schedules(request: PauseRequest, access: Editor, triggers: Triggers) -> dict[str, int]:
    """Pause (or resume) every schedule of the workspace."""
    return {"changed": await triggers.pause_schedules(access.workspace_id, paused=request.paused)}
