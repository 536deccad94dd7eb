"""Files into the blob store: an upload answers a reference its workspace may hand to runs, OCR and plugins."""

from __future__ import annotations

import mimetypes
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from starlette.datastructures import UploadFile

from synthral.api.access import Editor
from synthral.api.state import ServerState, server_of
from synthral.errors import InputInvalid
from synthral_sdk import BlobRef

__all__ = ["router"]

router = APIRouter(prefix="/blobs", tags=["blobs"])
Server = Annotated[ServerState, Depends(server_of)]

_CHUNK = 1 << 20


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BlobRef, response_model_exclude_none=True)
async def upload_blob(request: Request, access: Editor, server: Server) -> BlobRef:
    """Store one file (multipart field ``file``) and answer its reference.

    The reference may then be sent in this workspace's run inputs, signals, workflows and OCR
    requests; other workspaces are refused it. Storing the same bytes again answers the same
    reference.
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InputInvalid("send the file as a multipart form with the field 'file'", details={"field": "file"})
    async with request.form() as form:  # closes the spooled upload file
        files = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
        if len(files) != 1:
            raise InputInvalid(
                f"send exactly one file in the multipart field 'file'; this request has {len(files)}",
                details={"field": "file", "count": len(files)},
            )
        upload = files[0]
        name = upload.filename or "upload"
        media_type = upload.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        with tempfile.NamedTemporaryFile(prefix="synthral-upload-") as tmp:
            while chunk := await upload.read(_CHUNK):
                tmp.write(chunk)
            tmp.flush()
            return await server.app.workflows.grants.store(
                server.app.plugins.blobs, access.workspace_id, Path(tmp.name), media_type=media_type, name=name
            )
