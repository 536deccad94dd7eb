"""The OCR tables (PRD models OCRJob, OCRDocument, OCRResult): jobs, their documents and what was read.

A job is one request (one document or a batch); each document records the engine the
router chose and why; a result holds the text and a reference to the full ``OCRResult``
JSON in the blob store (pages, blocks, lines, words with boxes).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from synthral.store.models import new_id

__all__ = ["OCRDocument", "OCRJob", "OCRJobStatus", "OCRResult"]


class OCRJobStatus(StrEnum):
    """Where a job or one of its documents stands."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def _ts(comment: str, *, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, comment=comment))


class OCRJob(SQLModel, table=True):
    """One OCR request: a document or a batch, run inline or as a durable execution."""

    __tablename__ = "ocr_job"

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = Field(
        default=None,
        foreign_key="workspace.id",
        index=True,
        ondelete="CASCADE",
        sa_column_kwargs={"comment": "The workspace that asked; NULL for jobs started by a workflow's own node."},
    )
    execution_id: str | None = Field(
        default=None,
        index=True,
        sa_column_kwargs={"comment": "The durable execution running the job; NULL when it ran inline (sync)."},
    )
    requested_by: str | None = Field(default=None, sa_column_kwargs={"comment": "The user or API key that asked."})
    status: str = Field(default=OCRJobStatus.QUEUED, sa_column_kwargs={"comment": "queued|running|completed|failed"})
    engine: str | None = Field(
        default=None, sa_column_kwargs={"comment": "The engine asked for (an override); NULL lets the router choose."}
    )
    options: dict[str, Any] | None = Field(
        default=None,
        sa_type=JSON,
        sa_column_kwargs={"comment": "Routing hints and engine options as sent (layout, handwriting, languages...)."},
    )
    document_count: int = Field(default=0, sa_column_kwargs={"comment": "How many documents the job has."})
    error: str | None = Field(default=None, sa_column=Column(Text, comment="Why the job failed, for people."))
    created_at: datetime = _ts("When the job was asked for.", nullable=False)
    started_at: datetime | None = _ts("When the first document started.")
    completed_at: datetime | None = _ts("When the last document finished; NULL while any is pending.")


class OCRDocument(SQLModel, table=True):
    """One document of a job, with the router's decision and its reason."""

    __tablename__ = "ocr_document"
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    job_id: str = Field(foreign_key="ocr_job.id", index=True, ondelete="CASCADE")
    position: int = Field(sa_column_kwargs={"comment": "0-based place of the document in the job."})
    blob: str = Field(sa_column_kwargs={"comment": "The document's blob digest (sha256:...)."})
    size: int = Field(sa_column_kwargs={"comment": "Bytes."})
    media_type: str = Field(sa_column_kwargs={"comment": "As declared by the sender."})
    name: str | None = Field(default=None, sa_column_kwargs={"comment": "The file name, when sent."})
    status: str = Field(default=OCRJobStatus.QUEUED, sa_column_kwargs={"comment": "queued|running|completed|failed"})
    engine: str | None = Field(
        default=None, sa_column_kwargs={"comment": "The engine that read it, 'plugin/capability'; NULL until routed."}
    )
    reason: str | None = Field(
        default=None, sa_column=Column(Text, comment="Why the router chose that engine (and any fallback taken).")
    )
    attempts: list[Any] | None = Field(
        default=None,
        sa_type=JSON,
        sa_column_kwargs={"comment": "Every engine tried, in order, with its outcome and milliseconds."},
    )
    page_count: int | None = Field(default=None, sa_column_kwargs={"comment": "Pages read."})
    duration_ms: int | None = Field(default=None, sa_column_kwargs={"comment": "Time from routing to result."})
    error: str | None = Field(default=None, sa_column=Column(Text, comment="Why reading failed, for people."))
    started_at: datetime | None = _ts("When reading started.")
    completed_at: datetime | None = _ts("When reading finished.")


class OCRResult(SQLModel, table=True):
    """What was read from one document."""

    __tablename__ = "ocr_result"

    id: str = Field(default_factory=new_id, primary_key=True)
    document_id: str = Field(foreign_key="ocr_document.id", unique=True, ondelete="CASCADE")
    engine: str = Field(sa_column_kwargs={"comment": "The engine and version that read it, as it reports them."})
    text: str = Field(sa_column=Column(Text, nullable=False, comment="The pages' text joined by form feeds."))
    result_blob: str = Field(
        sa_column_kwargs={"comment": "Blob digest of the full OCRResult JSON (pages, blocks, lines, words, boxes)."}
    )
    result_size: int = Field(sa_column_kwargs={"comment": "Bytes of that JSON."})
    page_sources: list[Any] | None = Field(
        default=None,
        sa_type=JSON,
        sa_column_kwargs={"comment": "Per page: 'ocr', 'text_layer' or 'mixed'."},
    )
    confidence: float | None = Field(default=None, sa_column_kwargs={"comment": "Mean word confidence, 0 to 1."})
    created_at: datetime = _ts("When the result was stored.", nullable=False)
