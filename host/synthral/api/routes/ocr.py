"""OCR: extract text from a document (uploaded or a blob reference), batches, a job's status and result."""

from __future__ import annotations

import json
import mimetypes
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field, JsonValue, ValidationError
from starlette.datastructures import UploadFile

from synthral.api.access import Access, Editor, Viewer
from synthral.api.state import ServerState, server_of
from synthral.errors import InputInvalid
from synthral_sdk import BlobRef

__all__ = ["router"]

router = APIRouter(prefix="/ocr", tags=["ocr"])
Server = Annotated[ServerState, Depends(server_of)]

_CHUNK = 1 << 20


class ExtractRequest(BaseModel):
    """A document already in the blob store, and how to read it."""

    document: dict[str, JsonValue] = Field(
        description='A blob reference, {"$blob": "sha256:...", "size": N, ...}, of a file this workspace uploaded '
        "(POST /api/v1/blobs) or its runs made."
    )
    options: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Router hints and engine options: engine, layout, handwriting, structured_json, latency, "
        "region, languages, pages, fallback.",
    )
    wait: bool | None = Field(
        default=None, description="true: read now and answer with the text; false: always a job; unset: by size."
    )


class BatchRequest(BaseModel):
    """Several documents already in the blob store."""

    documents: list[dict[str, JsonValue]] = Field(min_length=1)
    options: dict[str, JsonValue] = Field(default_factory=dict)


class OCRDocumentView(BaseModel):
    """One document of a job."""

    position: int
    document: dict[str, JsonValue]
    status: str
    engine: str | None = Field(description="The engine that read it ('plugin/capability').")
    engine_version: str | None
    reason: str | None = Field(description="Why the router chose it, and any fallback taken.")
    attempts: list[dict[str, JsonValue]]
    pages: int | None
    sources: list[str] | None = Field(description="Per page: 'ocr', 'text_layer' or 'mixed'.")
    confidence: float | None
    duration_ms: int | None
    error: str | None
    text: str | None
    result: dict[str, JsonValue] | None = Field(description="Blob reference of the full OCRResult JSON.")


class OCRJobView(BaseModel):
    """An OCR job and its documents."""

    job_id: str
    status: str = Field(description="queued|running|completed|failed")
    error: str | None
    execution_id: str | None = Field(description="The durable execution running it; null when read inline.")
    mode: str = Field(description="'inline' (read during the request) or 'job'.")
    created_at: str
    completed_at: str | None
    documents: list[OCRDocumentView]


def _status_code(view: dict[str, Any], response: Response) -> None:
    response.status_code = status.HTTP_200_OK if view["mode"] == "inline" else status.HTTP_202_ACCEPTED


async def _uploaded(server: ServerState, access: Access, upload: UploadFile) -> BlobRef:
    """Copy an upload into the blob store a megabyte at a time; the workspace may name it from now on."""
    media_type = upload.content_type or mimetypes.guess_type(upload.filename or "")[0] or "application/octet-stream"
    with tempfile.NamedTemporaryFile(prefix="synthral-ocr-") as tmp:
        while chunk := await upload.read(_CHUNK):
            tmp.write(chunk)
        tmp.flush()
        return await server.app.ocr.upload(
            access.workspace_id, Path(tmp.name), media_type=media_type, name=upload.filename or "upload"
        )


def _ref(raw: object, where: str) -> BlobRef:
    try:
        return BlobRef.model_validate(raw)
    except ValidationError as exc:
        raise InputInvalid(
            f"{where} is not a blob reference ({exc.errors()[0]['msg']}); send "
            '{"$blob": "sha256:...", "size": N, "mediaType": "..."} or upload the file as multipart field \'file\'',
            details={"field": where},
        ) from None


def _json_field(raw: object, where: str) -> Any:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InputInvalid(f"form field '{where}' must be JSON text", details={"field": where})
    try:
        return json.loads(raw)
    except ValueError:
        raise InputInvalid(f"form field '{where}' is not valid JSON", details={"field": where}) from None


async def _read_request(
    request: Request, server: ServerState, access: Access, *, many: bool
) -> tuple[list[BlobRef], Any, Any]:
    """Documents, options and 'wait' from a JSON body or a multipart form (files or references)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:  # closes the spooled upload files
            files = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
            refs = [await _uploaded(server, access, upload) for upload in files]
            for index, raw in enumerate(form.getlist("document")):
                refs.append(_ref(_json_field(raw, "document"), f"form field 'document' #{index}"))
            wait = _json_field(form.get("wait"), "wait")
            return refs, _json_field(form.get("options"), "options") or {}, wait
    try:
        body = await request.json()
    except ValueError:
        raise InputInvalid(
            "the body is neither JSON nor a multipart form; send JSON with a blob reference, or upload the "
            "file as multipart field 'file'"
        ) from None
    try:
        if many:
            batch = BatchRequest.model_validate(body)
            return [_ref(raw, f"documents[{i}]") for i, raw in enumerate(batch.documents)], batch.options, None
        single = ExtractRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(body)"
        raise InputInvalid(f"field '{where}': {first['msg']}", details={"field": where}) from None
    return [_ref(single.document, "document")], single.options, single.wait


@router.post(
    "/extract",
    response_model=OCRJobView,
    responses={202: {"model": OCRJobView, "description": "A job was started; poll its status."}},
)
async def extract_text(request: Request, response: Response, access: Editor, server: Server) -> dict[str, Any]:
    """Read one document: JSON with a blob reference, or a multipart upload (field 'file').

    Small documents are read during the request (200, with the text); larger ones, or
    ``wait: false``, become a durable job (202; poll ``/ocr/status/{job_id}``).
    """
    refs, options, wait = await _read_request(request, server, access, many=False)
    if len(refs) != 1:
        raise InputInvalid(
            f"/ocr/extract reads one document, this request has {len(refs)}; use /ocr/batch for several",
            details={"count": len(refs)},
        )
    if wait is not None and not isinstance(wait, bool):
        raise InputInvalid("'wait' must be true, false or left out", details={"field": "wait"})
    view = await server.app.ocr.extract(
        refs[0], server.app.ocr.options(options), workspace_id=access.workspace_id, requested_by=_who(access), wait=wait
    )
    _status_code(view, response)
    return view


@router.post("/batch", status_code=status.HTTP_202_ACCEPTED, response_model=OCRJobView)
async def extract_batch(request: Request, access: Editor, server: Server) -> dict[str, Any]:
    """Read several documents as one durable job (JSON 'documents', or multipart 'file' fields)."""
    refs, options, _ = await _read_request(request, server, access, many=True)
    return await server.app.ocr.batch(
        refs, server.app.ocr.options(options), workspace_id=access.workspace_id, requested_by=_who(access)
    )


@router.get("/status/{job_id}", response_model=OCRJobView)
async def job_status(job_id: str, access: Viewer, server: Server) -> dict[str, Any]:
    """A job's status, each document's engine and the router's reason, and the text read so far."""
    return await server.app.ocr.status(job_id, workspace_id=access.workspace_id)


@router.get("/jobs/{job_id}/documents/{position}/result")
async def job_result(job_id: str, position: int, access: Viewer, server: Server) -> Response:
    """The full OCRResult JSON of one document: pages, blocks, lines, words with boxes, tables."""
    data = await server.app.ocr.read_result(job_id, position, workspace_id=access.workspace_id)
    return Response(content=data, media_type="application/json")


@router.get("/engines")
async def engines(access: Viewer, server: Server) -> dict[str, Any]:
    """The OCR engines the router may use now, and why each other installed one may not."""
    del access
    ready, not_ready = server.app.ocr.engines()
    return {"ready": {name: engine.ref for name, engine in ready.items()}, "not_ready": not_ready}


def _who(access: Access) -> str:
    return access.principal.user_id
