"""step.error_details: an error's structured details (a plugin's traceback)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "error_details",
                sa.JSON(),
                nullable=True,
                comment="The error's structured details, secrets masked; a plugin's unexpected exception brings its traceback.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.drop_column("error_details")
