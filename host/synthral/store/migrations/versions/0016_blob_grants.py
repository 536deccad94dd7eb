"""per-workspace blob grants; each workspace is granted the blobs its history refers to

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 09:00:00.000000

References are checked against grants from now on, so the blobs a workspace could use
before (its runs' inputs and outputs, its saved workflows, its OCR documents and results, its
crawled pages, browser files and watched files) are granted to it here, read in batches of
rows that hold a reference. Outputs kept as blobs (over 256 KiB) are granted themselves; the
references inside them are not read (the blob store is not at hand here), so such files are
granted again when a new run makes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alembic import op


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BATCH = 1000
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MARK = '"$blob"'

_grant = sa.table(
    "blob_grant",
    sa.column("workspace_id", sa.String()),
    sa.column("digest", sa.String()),
    sa.column("granted_at", sa.DateTime(timezone=True)),
)
_workflow = sa.table("workflow", sa.column("id", sa.String()), sa.column("workspace_id", sa.String()))
_version = sa.table(
    "workflow_version", sa.column("id", sa.String()), sa.column("workflow_id", sa.String()), sa.column("graph", sa.JSON)
)
_execution = sa.table(
    "workflow_execution",
    sa.column("id", sa.String()),
    sa.column("workflow_id", sa.String()),
    sa.column("input", sa.JSON),
    sa.column("output", sa.JSON),
)
_step = sa.table(
    "step",
    sa.column("id", sa.Integer()),
    sa.column("execution_id", sa.String()),
    sa.column("input", sa.JSON),
    sa.column("output", sa.JSON),
)
_ocr_job = sa.table(
    "ocr_job",
    sa.column("id", sa.String()),
    sa.column("workspace_id", sa.String()),
    sa.column("execution_id", sa.String()),
)
_ocr_document = sa.table(
    "ocr_document", sa.column("id", sa.String()), sa.column("job_id", sa.String()), sa.column("blob", sa.String())
)
_ocr_result = sa.table("ocr_result", sa.column("document_id", sa.String()), sa.column("result_blob", sa.String()))
_scrape_job = sa.table(
    "scrape_job", sa.column("id", sa.String()), sa.column("workspace_id", sa.String()), sa.column("result", sa.JSON)
)
_scrape_page = sa.table(
    "scrape_page", sa.column("id", sa.String()), sa.column("job_id", sa.String()), sa.column("content", sa.JSON)
)
_browser_session = sa.table("browser_session", sa.column("id", sa.String()), sa.column("workspace_id", sa.String()))
_browser_action = sa.table(
    "browser_action", sa.column("id", sa.String()), sa.column("session_id", sa.String()), sa.column("result", sa.JSON)
)
_watched_folder = sa.table(
    "desktop_watched_folder", sa.column("id", sa.String()), sa.column("workspace_id", sa.String())
)
_watched_file = sa.table(
    "desktop_watched_file",
    sa.column("id", sa.Integer()),
    sa.column("folder_id", sa.String()),
    sa.column("sha256", sa.String()),
)


def upgrade() -> None:
    op.create_table(
        "blob_grant",
        sa.Column(
            "workspace_id", sa.String(), nullable=False, comment="The workspace whose callers may name the blob."
        ),
        sa.Column(
            "digest",
            sa.String(),
            nullable=False,
            comment="The blob, as its references name it: 'sha256:' and 64 lowercase hex digits.",
        ),
        sa.Column(
            "granted_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the blob first entered through the workspace (an upload, a step's output...).",
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "digest"),
    )
    with op.batch_alter_table("blob_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blob_grant_digest"), ["digest"], unique=False)
    _grant_history(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("blob_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blob_grant_digest"))
    op.drop_table("blob_grant")


# -- granting what each workspace's history refers to ---------------------------------------


def _text(column: Any) -> Any:
    return sa.cast(column, sa.Text())


def _refers(*columns: Any) -> Any:
    """Rows whose JSON holds a reference: the marker is written as is by the JSON serializer."""
    return sa.or_(*(_text(column).like(f"%{_MARK}%") for column in columns))


def _sources() -> list[tuple[Any, Any, bool]]:
    """(key column, the select of ``key, workspace_id, values...``, whether the values are JSON)."""
    runs = _execution.join(_workflow, _workflow.c.id == _execution.c.workflow_id)
    steps = _step.join(_execution, _execution.c.id == _step.c.execution_id).join(
        _workflow, _workflow.c.id == _execution.c.workflow_id
    )
    documents = (
        _ocr_document.join(_ocr_job, _ocr_job.c.id == _ocr_document.c.job_id)
        .outerjoin(_ocr_result, _ocr_result.c.document_id == _ocr_document.c.id)
        .outerjoin(_execution, _execution.c.id == _ocr_job.c.execution_id)
        .outerjoin(_workflow, _workflow.c.id == _execution.c.workflow_id)
    )
    document_workspace = sa.func.coalesce(_ocr_job.c.workspace_id, _workflow.c.workspace_id)
    return [
        (
            _step.c.id,
            sa.select(_step.c.id, _workflow.c.workspace_id, _text(_step.c.input), _text(_step.c.output))
            .select_from(steps)
            .where(_workflow.c.workspace_id.is_not(None), _refers(_step.c.input, _step.c.output)),
            True,
        ),
        (
            _execution.c.id,
            sa.select(_execution.c.id, _workflow.c.workspace_id, _text(_execution.c.input), _text(_execution.c.output))
            .select_from(runs)
            .where(_workflow.c.workspace_id.is_not(None), _refers(_execution.c.input, _execution.c.output)),
            True,
        ),
        (
            _version.c.id,
            sa.select(_version.c.id, _workflow.c.workspace_id, _text(_version.c.graph))
            .select_from(_version.join(_workflow, _workflow.c.id == _version.c.workflow_id))
            .where(_workflow.c.workspace_id.is_not(None), _refers(_version.c.graph)),
            True,
        ),
        (
            _ocr_document.c.id,
            sa.select(_ocr_document.c.id, document_workspace, _ocr_document.c.blob, _ocr_result.c.result_blob)
            .select_from(documents)
            .where(document_workspace.is_not(None)),
            False,
        ),
        (
            _scrape_job.c.id,
            sa.select(_scrape_job.c.id, _scrape_job.c.workspace_id, _text(_scrape_job.c.result)).where(
                _scrape_job.c.workspace_id.is_not(None), _refers(_scrape_job.c.result)
            ),
            True,
        ),
        (
            _scrape_page.c.id,
            sa.select(_scrape_page.c.id, _scrape_job.c.workspace_id, _text(_scrape_page.c.content))
            .select_from(_scrape_page.join(_scrape_job, _scrape_job.c.id == _scrape_page.c.job_id))
            .where(_scrape_job.c.workspace_id.is_not(None), _refers(_scrape_page.c.content)),
            True,
        ),
        (
            _browser_action.c.id,
            sa.select(_browser_action.c.id, _browser_session.c.workspace_id, _text(_browser_action.c.result))
            .select_from(_browser_action.join(_browser_session, _browser_session.c.id == _browser_action.c.session_id))
            .where(_browser_session.c.workspace_id.is_not(None), _refers(_browser_action.c.result)),
            True,
        ),
        (
            _watched_file.c.id,
            sa.select(_watched_file.c.id, _watched_folder.c.workspace_id, _watched_file.c.sha256).select_from(
                _watched_file.join(_watched_folder, _watched_folder.c.id == _watched_file.c.folder_id)
            ),
            False,
        ),
    ]


def _digests(value: Any) -> Iterator[str]:
    """The digest of every ``{"$blob": ...}`` in a JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$blob")
            if isinstance(ref, str) and _DIGEST.fullmatch(ref):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _found(values: tuple[Any, ...], as_json: bool) -> Iterator[str]:
    for value in values:
        if not isinstance(value, str):
            continue
        if not as_json:
            if _DIGEST.fullmatch(value):
                yield value
        elif _MARK in value:
            try:
                yield from _digests(orjson.loads(value))
            except orjson.JSONDecodeError:
                continue


def _grant_history(bind: sa.engine.Connection) -> None:
    insert = (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(_grant)
    statement = insert.on_conflict_do_nothing(index_elements=["workspace_id", "digest"])
    now = datetime.now(UTC)
    for key, select, as_json in _sources():
        last: Any = None
        while True:
            query = select if last is None else select.where(key > last)
            rows = bind.execute(query.order_by(key).limit(_BATCH)).all()
            pairs = {(row[1], digest) for row in rows for digest in _found(tuple(row[2:]), as_json)}
            if pairs:
                bind.execute(statement, [{"workspace_id": w, "digest": d, "granted_at": now} for w, d in sorted(pairs)])
            if len(rows) < _BATCH:
                break
            last = rows[-1][0]
