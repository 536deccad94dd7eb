"""The OCR tables (PRD models OCRJob, OCRDocument, OCRResult): jobs, their documents and what was read.

A job is one request (one document or a batch); each document records the engine the
router chose and why; a result holds the text and a reference to the full ``OCRResult``
JSON in the blob store (pages, blocks, lines, words with boxes). Declared with SQLAlchemy
Core on the one metadata of :mod:`synthral.store.tables`, which imports this module.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from sqlalchemy import JSON, Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from synthral.store.tables import UTCDateTime, metadata, new_id

__all__ = ["OCR_DOCUMENT", "OCR_JOB", "OCR_RESULT", "OCRJobStatus"]


class OCRJobStatus(StrEnum):
    """Where a job or one of its documents stands."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


_STATUS = "queued|running|completed|failed"

OCR_JOB: Final = Table(
    "ocr_job",
    metadata,
    Column("id", String, primary_key=True, default=new_id),
    Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
        comment="The workspace that asked; NULL for jobs started by a workflow's own node.",
    ),
    Column(
        "execution_id",
        String,
        nullable=True,
        index=True,
        comment="The durable execution running the job; NULL when it ran inline (sync).",
    ),
    Column("requested_by", String, nullable=True, comment="The user or API key that asked."),
    Column("status", String, nullable=False, default=OCRJobStatus.QUEUED, comment=_STATUS),
    Column("engine", String, nullable=True, comment="The engine asked for (an override); NULL lets the router choose."),
    Column(
        "options",
        JSON,
        nullable=True,
        comment="Routing hints and engine options as sent (layout, handwriting, languages...).",
    ),
    Column("document_count", Integer, nullable=False, default=0, comment="How many documents the job has."),
    Column("error", Text, nullable=True, comment="Why the job failed, for people."),
    Column("created_at", UTCDateTime(), nullable=False, comment="When the job was asked for."),
    Column("started_at", UTCDateTime(), nullable=True, comment="When the first document started."),
    Column(
        "completed_at",
        UTCDateTime(),
        nullable=True,
        comment="When the last document finished; NULL while any is pending.",
    ),
)
"""One OCR request: a document or a batch, run inline or as a durable execution."""

OCR_DOCUMENT: Final = Table(
    "ocr_document",
    metadata,
    Column("id", String, primary_key=True, default=new_id),
    Column("job_id", String, ForeignKey("ocr_job.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("position", Integer, nullable=False, comment="0-based place of the document in the job."),
    Column("blob", String, nullable=False, comment="The document's blob digest (sha256:...)."),
    Column("size", Integer, nullable=False, comment="Bytes."),
    Column("media_type", String, nullable=False, comment="As declared by the sender."),
    Column("name", String, nullable=True, comment="The file name, when sent."),
    Column("status", String, nullable=False, default=OCRJobStatus.QUEUED, comment=_STATUS),
    Column("engine", String, nullable=True, comment="The engine that read it, 'plugin/capability'; NULL until routed."),
    Column("reason", Text, nullable=True, comment="Why the router chose that engine (and any fallback taken)."),
    Column("attempts", JSON, nullable=True, comment="Every engine tried, in order, with its outcome and milliseconds."),
    Column("page_count", Integer, nullable=True, comment="Pages read."),
    Column("duration_ms", Integer, nullable=True, comment="Time from routing to result."),
    Column("error", Text, nullable=True, comment="Why reading failed, for people."),
    Column("started_at", UTCDateTime(), nullable=True, comment="When reading started."),
    Column("completed_at", UTCDateTime(), nullable=True, comment="When reading finished."),
    UniqueConstraint("job_id", "position"),
)
"""One document of a job, with the router's decision and its reason."""

OCR_RESULT: Final = Table(
    "ocr_result",
    metadata,
    Column("id", String, primary_key=True, default=new_id),
    Column("document_id", String, ForeignKey("ocr_document.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("engine", String, nullable=False, comment="The engine and version that read it, as it reports them."),
    Column("text", Text, nullable=False, comment="The pages' text joined by form feeds."),
    Column(
        "result_blob",
        String,
        nullable=False,
        comment="Blob digest of the full OCRResult JSON (pages, blocks, lines, words, boxes).",
    ),
    Column("result_size", Integer, nullable=False, comment="Bytes of that JSON."),
    Column("page_sources", JSON, nullable=True, comment="Per page: 'ocr', 'text_layer' or 'mixed'."),
    Column("confidence", Float, nullable=True, comment="Mean word confidence, 0 to 1."),
    Column("created_at", UTCDateTime(), nullable=False, comment="When the result was stored."),
)
"""What was read from one document."""
