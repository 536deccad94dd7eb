"""trigger cursors (polling triggers), abandoned step attempts, run counts kept across claims

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COMMENTS = (
    (
        "step",
        "status",
        sa.String(),
        "running|completed|failed|waiting|cancelled",
        "running|completed|failed|waiting|cancelled|abandoned",
    ),
    (
        "workflow_execution",
        "trigger",
        sa.String(),
        "manual|cron|signal|webhook|subworkflow|error|replay",
        "manual|cron|poll|signal|webhook|subworkflow|error|replay",
    ),
    (
        "workflow_execution",
        "steps_taken",
        sa.Integer(),
        "Step attempts so far, for max_steps.",
        "Steps begun so far (attempts included), for max_steps; written with every fenced write.",
    ),
    (
        "workflow_execution",
        "retry_count",
        sa.Integer(),
        "Retries taken by all steps so far.",
        "Retries taken by all steps so far; written with every fenced write.",
    ),
)


def upgrade() -> None:
    op.create_table(
        "trigger_cursor",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column(
            "trigger_index",
            sa.Integer(),
            nullable=False,
            comment="Position of the poll trigger in the workflow's triggers.",
        ),
        sa.Column(
            "capability", sa.String(), nullable=False, comment="The trigger capability polled, 'plugin/capability'."
        ),
        sa.Column(
            "definition_digest",
            sa.String(),
            nullable=False,
            comment="sha256 of the trigger's definition; a changed definition starts from no state.",
        ),
        sa.Column(
            "state",
            sa.JSON(),
            nullable=True,
            comment="The cursor the last poll returned, handed to the next; NULL before the first poll.",
        ),
        sa.Column("interval_seconds", sa.Float(), nullable=False, comment="Seconds between polls."),
        sa.Column(
            "next_poll_at", sa.DateTime(timezone=True), nullable=True, comment="When the trigger is polled next."
        ),
        sa.Column(
            "claimed_by",
            sa.String(),
            nullable=True,
            comment="The poller polling it now; NULL when no poll is in flight.",
        ),
        sa.Column(
            "claimed_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="The claim is void after this; another poller may poll.",
        ),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True, comment="When the last poll committed."),
        sa.Column("last_error", sa.String(), nullable=True, comment="Why the last poll failed; NULL after a success."),
        sa.Column("polls", sa.Integer(), nullable=False, comment="Polls committed."),
        sa.Column("events", sa.Integer(), nullable=False, comment="Runs started by new events."),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "trigger_index", name="uq_trigger_cursor"),
    )
    with op.batch_alter_table("trigger_cursor", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trigger_cursor_next_poll_at"), ["next_poll_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_cursor_workflow_id"), ["workflow_id"], unique=False)
    # SQLite keeps no column comments: changing them there would only rewrite the tables.
    if op.get_bind().dialect.name == "postgresql":
        for table, column, type_, old, new in _COMMENTS:
            op.alter_column(table, column, existing_type=type_, comment=new, existing_comment=old)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, type_, old, new in _COMMENTS:
            op.alter_column(table, column, existing_type=type_, comment=old, existing_comment=new)
    with op.batch_alter_table("trigger_cursor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_cursor_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_cursor_next_poll_at"))
    op.drop_table("trigger_cursor")
