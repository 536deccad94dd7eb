"""plugin upgrades applied to workflows, with the pins they replaced (rollback)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugin_upgrade",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("batch_id", sa.String(), nullable=False, comment="One apply: every workflow it re-pinned shares it."),
        sa.Column("plugin", sa.String(), nullable=False, comment="The plugin re-pinned."),
        sa.Column("workflow_id", sa.String(), nullable=False, comment="The workflow re-pinned."),
        sa.Column(
            "workspace_id", sa.String(), nullable=True, comment="The workflow's workspace; NULL for a local one."
        ),
        sa.Column(
            "from_version",
            sa.String(),
            nullable=False,
            comment="The plugin version pinned before; a rollback restores it.",
        ),
        sa.Column("to_version", sa.String(), nullable=False, comment="The plugin version pinned by the apply."),
        sa.Column(
            "workflow_version_before", sa.Integer(), nullable=False, comment="The workflow's latest version before."
        ),
        sa.Column(
            "workflow_version_after", sa.Integer(), nullable=False, comment="The workflow version the apply saved."
        ),
        sa.Column(
            "accepted_changes", sa.Boolean(), nullable=False, comment="Applied although the check was not clean."
        ),
        sa.Column(
            "summary",
            sa.JSON(),
            nullable=False,
            comment="The check's counts: identical, changed, failing, incompatible.",
        ),
        sa.Column("applied_by", sa.String(), nullable=True, comment="Who applied it (server mode); NULL locally."),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, comment="When it was applied."),
        sa.Column(
            "rolled_back_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When it was rolled back; NULL means in force.",
        ),
        sa.Column(
            "rollback_version",
            sa.Integer(),
            nullable=True,
            comment="The workflow version the rollback saved; NULL until rolled back.",
        ),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("plugin_upgrade", schema=None) as batch_op:
        batch_op.create_index("ix_plugin_upgrade_plugin", ["plugin", "applied_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_plugin_upgrade_workflow_id"), ["workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("plugin_upgrade", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plugin_upgrade_workflow_id"))
        batch_op.drop_index("ix_plugin_upgrade_plugin")
    op.drop_table("plugin_upgrade")
