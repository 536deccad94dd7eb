"""desktop watched folders and the files they fired for

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desktop_watched_folder",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False, comment="The workspace of the workflow it starts."),
        sa.Column(
            "workflow_id", sa.String(), nullable=False, comment="The workflow a new file starts (its latest version)."
        ),
        sa.Column("path", sa.Text(), nullable=False, comment="The folder's absolute path on this machine."),
        sa.Column(
            "pattern", sa.String(), nullable=False, comment="A glob on file names, e.g. '*.pdf'; '*' for every file."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "path", name="uq_desktop_watched_folder_workflow_path"),
        comment="Folders whose new files start a workflow (desktop app only).",
    )
    with op.batch_alter_table("desktop_watched_folder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desktop_watched_folder_workspace_id"), ["workspace_id"], unique=False)
    op.create_table(
        "desktop_watched_file",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("folder_id", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False, comment="The file's name inside the folder."),
        sa.Column(
            "sha256",
            sa.String(),
            nullable=False,
            comment="The content's digest: new content under an old name fires again.",
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "execution_id",
            sa.String(),
            nullable=False,
            comment="The run this file started (chosen before it is queued).",
        ),
        sa.Column(
            "started",
            sa.Boolean(),
            nullable=False,
            comment="False between recording the file and queuing its run; such rows are queued again at start.",
        ),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["desktop_watched_folder.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("folder_id", "name", "sha256", name="uq_desktop_watched_file_once"),
        comment="Files a watched folder fired for: one row, one run, whatever restarts happen.",
    )


def downgrade() -> None:
    op.drop_table("desktop_watched_file")
    with op.batch_alter_table("desktop_watched_folder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desktop_watched_folder_workspace_id"))
    op.drop_table("desktop_watched_folder")
