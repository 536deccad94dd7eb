"""the audit log: hash-chained, append-only (triggers refuse UPDATE and DELETE)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_MESSAGE = "the audit log is append-only"


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False, comment="Position in the chain (1, 2, ...)."),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, comment="When the act happened (UTC)."),
        sa.Column(
            "workspace_id", sa.String(), nullable=True, comment="The workspace it concerns; NULL for server-wide acts."
        ),
        sa.Column("actor_kind", sa.String(length=16), nullable=False, comment="user|api_key|system|anonymous"),
        sa.Column(
            "actor_id",
            sa.String(),
            nullable=True,
            comment="The user's id (also for an API key's acts); NULL if unknown.",
        ),
        sa.Column(
            "action", sa.String(length=64), nullable=False, comment="What happened, e.g. auth.login, credential.write."
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False, comment="success|failure"),
        sa.Column(
            "target_type",
            sa.String(length=32),
            nullable=True,
            comment="The kind of object acted on: user, credential...",
        ),
        sa.Column("target_id", sa.String(), nullable=True, comment="Its id or name."),
        sa.Column(
            "ip", sa.String(length=64), nullable=True, comment="The client's address, when the act came over HTTP."
        ),
        sa.Column("details", sa.JSON(), nullable=False, comment="Facts about the act; never a secret value."),
        sa.Column(
            "prev_hash",
            sa.String(length=64),
            nullable=False,
            comment="The previous row's hash; 64 zeros for the first.",
        ),
        sa.Column("hash", sa.String(length=64), nullable=False, comment="sha256 of prev_hash and this row's fields."),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_audit_event_workspace_id", "audit_event", ["workspace_id", "id"], unique=False)
    op.create_index("ix_audit_event_action", "audit_event", ["action"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_event_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_refuse()"
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_refuse()")
    op.drop_index("ix_audit_event_action", table_name="audit_event")
    op.drop_index("ix_audit_event_workspace_id", table_name="audit_event")
    op.drop_table("audit_event")
