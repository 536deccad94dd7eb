"""OCR use cases: extract text from a document now or as a durable job, batches, and a job's status.

Small documents are read inline (the request waits); larger ones and every batch become a
job run by the durable engine as an execution of the workspace's ``ocr-extract`` workflow
(one ``ocr/extract`` node), so a crash resumes them and finished documents are never read
twice. Either way the job, each document's routing decision and reason, and each result
are recorded in the OCR tables.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import JsonValue, ValidationError
from sqlalchemy import select

from synthral.config import OCRSettings
from synthral.engine.model import Workflow
from synthral.engine.ocr_node import (
    OCR_NODE_TYPE,
    OCRExtractConfig,
    ReadyEngine,
    extract,
    ready_engines,
    record_job,
)
from synthral.errors import InputInvalid, NotFound, SynthralError
from synthral.plugins.host import PluginHost
from synthral.services.blob_grants import UPLOAD_ROUTE, short_digest
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.ocr_tables import OCR_DOCUMENT as DOC
from synthral.store.ocr_tables import OCR_JOB as JOB
from synthral.store.ocr_tables import OCR_RESULT as RESULT
from synthral.store.ocr_tables import OCRJobStatus
from synthral.store.tables import EXECUTION as EXEC
from synthral.store.tables import ExecutionStatus
from synthral_sdk import BlobRef, BlobStore

__all__ = ["OCR_WORKFLOW", "JobNotFound", "OCRService", "OCRSettings"]

OCR_WORKFLOW: Final = "ocr-extract"
"""The workflow each workspace runs its OCR jobs with (created on first use)."""

_VISION_SECRETS: Final = {
    "api_key": "GOOGLE_VISION_API_KEY",
    "service_account": "GOOGLE_VISION_SERVICE_ACCOUNT",
}
"""The credential the google_vision engine reads, by its config field 'credential'."""


class JobNotFound(NotFound):
    """No such OCR job (or document result) in this workspace."""


class OCRService:
    """OCR jobs over one database, plugin host and workflow service."""

    def __init__(
        self,
        database: Database,
        plugins: PluginHost,
        workflows: WorkflowService,
        settings: OCRSettings | None = None,
    ) -> None:
        self.database = database
        self.plugins = plugins
        self.workflows = workflows
        self.settings = settings or OCRSettings()
        self.blobs: BlobStore = plugins.blobs

    def options(self, raw: Mapping[str, Any] | None) -> OCRExtractConfig:
        """A request's options with the configured engine settings underneath.

        Raises:
            InputInvalid: An option is unknown or has a bad value.
        """
        data = dict(raw or {})
        if "engine_configs" in data:
            raise InputInvalid(
                "'engine_configs' is set by the server's operator (SYNTHRAL_OCR_ENGINES), not per request; "
                "remove it and use 'engine' to pick an engine"
            )
        data["engine_configs"] = {k: dict(v) for k, v in (self.settings.engine_configs or {}).items()}
        try:
            return OCRExtractConfig.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(options)"
            raise InputInvalid(f"option '{where}': {first['msg']}", details={"field": where}) from None

    def engines(self) -> tuple[dict[str, ReadyEngine], dict[str, str]]:
        """The OCR engines the router may use now, and why the other installed ones may not."""
        specs = [(entry.plugin, entry.spec) for entry in self.plugins.catalog()]
        return ready_engines(specs, self.settings.engine_configs or {})

    async def upload(self, workspace_id: str, path: Path, *, media_type: str, name: str) -> BlobRef:
        """Store an uploaded document for the workspace, which may then name it."""
        return await self.workflows.grants.store(self.blobs, workspace_id, path, media_type=media_type, name=name)

    def check_document(self, ref: BlobRef) -> None:
        """Refuse a reference to bytes the store does not hold, before anything is recorded.

        Raises:
            InputInvalid: The blob is missing or has another size.
        """
        if not self.blobs.exists(ref):
            raise InputInvalid(
                f"blob {short_digest(ref.digest)} is no longer stored (history retention removed it); upload the "
                f"file again ({UPLOAD_ROUTE}) and send the new reference",
                details={"digest": ref.digest},
            )
        path = self.blobs.path(ref)
        if path.stat().st_size != ref.size:
            raise InputInvalid(
                f"blob {ref.digest} has {path.stat().st_size} bytes but the reference says {ref.size}; "
                "send the reference the upload returned",
                details={"digest": ref.digest},
            )

    async def extract(
        self,
        ref: BlobRef,
        options: OCRExtractConfig,
        *,
        workspace_id: str,
        requested_by: str | None,
        wait: bool | None = None,
    ) -> dict[str, Any]:
        """Read one document: inline when it is small (or ``wait`` says so), else as a job.

        Returns:
            The job's status (see :meth:`status`), with results when it ran inline.

        Raises:
            BlobNotFound: The workspace was not given the document's blob.
        """
        await self.workflows.grants.check(workspace_id, ref.to_json())
        self.check_document(ref)
        inline = wait if wait is not None else ref.size <= self.settings.sync_max_bytes
        if not inline:
            return await self._start_job([ref], options, workspace_id=workspace_id, requested_by=requested_by)
        job_id = str(uuid.uuid4())
        await self._write(
            lambda c: record_job(
                c,
                job_id=job_id,
                refs=[ref],
                execution_id=None,
                workspace_id=workspace_id,
                requested_by=requested_by,
                engine=options.engine,
                options=_public_options(options),
            )
        )

        async def invoke(engine: ReadyEngine, request: dict[str, Any], label: str) -> Any:
            del label
            handle = self.plugins.resolve(engine.ref)
            return await handle.call("recognize", dict(engine.config), request, self.plugins.context())

        with contextlib.suppress(SynthralError):  # recorded on the job; the status says what went wrong
            await extract(
                node_id="extract",
                config=options,
                payload={"document": ref.to_json(), "job_id": job_id},
                specs=[(entry.plugin, entry.spec) for entry in self.plugins.catalog()],
                invoke=invoke,
                write=self._write,
                blobs=self.blobs,
                default_job_id=job_id,
                execution_id=None,
                workspace_id=workspace_id,
            )
        return await self.status(job_id, workspace_id=workspace_id)

    async def batch(
        self, refs: Sequence[BlobRef], options: OCRExtractConfig, *, workspace_id: str, requested_by: str | None
    ) -> dict[str, Any]:
        """Read several documents as one durable job.

        Raises:
            InputInvalid: No documents, or more than ``batch_max``.
            BlobNotFound: The workspace was not given the blob of some document.
        """
        if not refs:
            raise InputInvalid("'documents' is empty; send one or more blob references or files")
        if len(refs) > self.settings.batch_max:
            raise InputInvalid(
                f"the batch has {len(refs)} documents, more than the limit of {self.settings.batch_max}; "
                "split it into several batches",
                details={"count": len(refs), "limit": self.settings.batch_max},
            )
        await self.workflows.grants.check(workspace_id, [ref.to_json() for ref in refs])
        for ref in refs:
            self.check_document(ref)
        return await self._start_job(refs, options, workspace_id=workspace_id, requested_by=requested_by)

    async def _start_job(
        self, refs: Sequence[BlobRef], options: OCRExtractConfig, *, workspace_id: str, requested_by: str | None
    ) -> dict[str, Any]:
        await self._ensure_workflow(workspace_id)
        job_id = str(uuid.uuid4())
        execution_id = str(uuid.uuid4())
        await self._write(
            lambda c: record_job(
                c,
                job_id=job_id,
                refs=refs,
                execution_id=execution_id,
                workspace_id=workspace_id,
                requested_by=requested_by,
                engine=options.engine,
                options=_public_options(options),
            )
        )
        hints = options.model_dump(mode="json")
        await self.workflows.start(
            OCR_WORKFLOW,
            {"documents": [ref.to_json() for ref in refs], "job_id": job_id, "hints": hints},
            trigger="api",
            execution_id=execution_id,
            workspace_id=workspace_id,
        )
        return await self.status(job_id, workspace_id=workspace_id)

    async def _ensure_workflow(self, workspace_id: str) -> None:
        node: dict[str, Any] = {
            "id": "extract",
            "type": OCR_NODE_TYPE,
            "input": {
                "documents": "{{ trigger.documents }}",
                "job_id": "{{ trigger.job_id }}",
                "hints": "{{ trigger.hints }}",
            },
        }
        vision = (self.settings.engine_configs or {}).get("google_vision")
        if vision is not None:
            # Cloud Vision's key (or service account) comes from the workspace's credentials.
            node["secrets"] = [_VISION_SECRETS.get(str(vision.get("credential")), "GOOGLE_VISION_API_KEY")]
        workflow = Workflow.model_validate(
            {
                "name": OCR_WORKFLOW,
                "description": "Runs the OCR API's jobs: routes each document to an engine and reads it.",
                "nodes": [node],
            }
        )
        try:
            current = await self.workflows.get(OCR_WORKFLOW, workspace_id=workspace_id)
        except SynthralError:
            current = None
        if current is None or current.workflow != workflow:
            await self.workflows.save(workflow, workspace_id=workspace_id)

    async def status(self, job_id: str, *, workspace_id: str) -> dict[str, Any]:
        """A job, its documents (engine, reason, status) and their results' text.

        A job whose execution ended without finishing its documents reports the execution's
        failure.

        Raises:
            JobNotFound: No such job in the workspace.
        """
        async with self.database.engine.connect() as connection:
            job = (
                await connection.execute(select(JOB).where(JOB.c.id == job_id, JOB.c.workspace_id == workspace_id))
            ).first()
            if job is None:
                raise JobNotFound(f"no OCR job {job_id} in this workspace", details={"job_id": job_id})
            docs = (
                await connection.execute(
                    select(DOC, RESULT.c.text, RESULT.c.engine.label("engine_version"), RESULT.c.result_blob,
                           RESULT.c.result_size, RESULT.c.page_sources, RESULT.c.confidence)
                    .outerjoin(RESULT, RESULT.c.document_id == DOC.c.id)
                    .where(DOC.c.job_id == job_id)
                    .order_by(DOC.c.position)
                )
            ).all()  # fmt: skip
            execution = None
            if job.execution_id is not None:
                execution = (
                    await connection.execute(
                        select(EXEC.c.status, EXEC.c.error_message).where(EXEC.c.id == job.execution_id)
                    )
                ).first()
        status, error = job.status, job.error
        if (
            execution is not None
            and status not in (OCRJobStatus.COMPLETED, OCRJobStatus.FAILED)
            and execution.status in ExecutionStatus.TERMINAL
            and execution.status != ExecutionStatus.COMPLETED
        ):
            status, error = OCRJobStatus.FAILED, f"the job's execution {execution.status}: {execution.error_message}"
        return {
            "job_id": job.id,
            "status": status,
            "error": error,
            "execution_id": job.execution_id,
            "mode": "job" if job.execution_id else "inline",
            "created_at": job.created_at.isoformat(),
            "completed_at": job.completed_at.isoformat() if job.completed_at else None,
            "documents": [_document(row) for row in docs],
        }

    async def _write(self, op: Any) -> Any:
        async with self.database.transaction() as connection:
            return await connection.run_sync(op)

    async def read_result(self, job_id: str, position: int, *, workspace_id: str) -> bytes:
        """The full OCRResult JSON of one document of a job (pages, blocks, lines, words).

        Raises:
            JobNotFound: No such job or document, or it has no result yet.
        """
        status = await self.status(job_id, workspace_id=workspace_id)
        docs = status["documents"]
        if not 0 <= position < len(docs) or docs[position]["result"] is None:
            raise JobNotFound(
                f"OCR job {job_id} has no result for document {position} (yet); check its status first",
                details={"job_id": job_id, "position": position},
            )
        return self.blobs.get(BlobRef.model_validate(docs[position]["result"]))


def _public_options(options: OCRExtractConfig) -> dict[str, JsonValue]:
    """The options as recorded: everything but the operator's engine settings."""
    return options.model_dump(mode="json", exclude={"engine_configs"})


def _document(row: Any) -> dict[str, Any]:
    result = None
    if row.result_blob is not None:
        result = {"$blob": row.result_blob, "size": row.result_size, "mediaType": "application/json"}
    return {
        "position": row.position,
        "document": {"$blob": row.blob, "size": row.size, "mediaType": row.media_type, "name": row.name},
        "status": row.status,
        "engine": row.engine,
        "engine_version": row.engine_version,
        "reason": row.reason,
        "attempts": row.attempts or [],
        "pages": row.page_count,
        "sources": row.page_sources,
        "confidence": row.confidence,
        "duration_ms": row.duration_ms,
        "error": row.error,
        "text": row.text,
        "result": result,
    }
