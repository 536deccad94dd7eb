"""OSINT: stream subscriptions, signals, alert rules, scheduled digests

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BANDS = 9


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", sa.String(), nullable=False)


def _workspace() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("workspace_id", sa.String(), nullable=False, comment="The workspace it belongs to.")


def _ts(name: str, comment: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, comment=comment)


def _count(name: str, comment: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Integer(), nullable=False, comment=comment)


def _workspace_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "osint_stream",
        _id(),
        _workspace(),
        sa.Column("name", sa.String(), nullable=False, comment="Unique in the workspace."),
        sa.Column("capability", sa.String(), nullable=False, comment="The source trigger polled, 'plugin/trigger'."),
        sa.Column("config", sa.JSON(), nullable=False, comment="The trigger's config."),
        sa.Column(
            "secrets", sa.JSON(), nullable=False, comment="Names of the workspace credentials the trigger is given."
        ),
        sa.Column("filters", sa.JSON(), nullable=False, comment="Noise filters applied at ingest (NoiseFilter)."),
        sa.Column("interval_seconds", sa.Float(), nullable=False, comment="Seconds between polls of a live stream."),
        sa.Column("is_active", sa.Boolean(), nullable=False, comment="Inactive streams are not polled."),
        sa.Column(
            "state", sa.JSON(), nullable=True, comment="The cursor the last poll returned; NULL before the first."
        ),
        _ts("backfill_since", "History from this moment is fetched before the live stream (NULL: none)."),
        _ts("next_poll_at", "When the stream is polled next."),
        sa.Column("claimed_by", sa.String(), nullable=True, comment="The scheduler polling it now; NULL when none is."),
        _ts("claimed_until", "The claim is void after this; another scheduler may poll."),
        _ts("last_polled_at", "When the last poll committed."),
        sa.Column("last_error", sa.Text(), nullable=True, comment="Why the last poll failed; NULL after a success."),
        _count("polls", "Polls committed."),
        _count("signals", "Signals kept."),
        _count("duplicates", "Signals dropped as exact or near duplicates."),
        _count("filtered", "Signals dropped as noise."),
        sa.Column("created_by", sa.String(), nullable=True, comment="The user who subscribed."),
        _ts("created_at", "When it was made.", nullable=False),
        _workspace_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_osint_stream_name"),
    )
    with op.batch_alter_table("osint_stream", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_osint_stream_next_poll_at"), ["next_poll_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_osint_stream_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "osint_signal",
        _id(),
        _workspace(),
        sa.Column("stream_id", sa.String(), nullable=True, comment="The stream it came from."),
        sa.Column(
            "source",
            sa.String(),
            nullable=False,
            comment="The service: news, mastodon, reddit, bluesky, telegram, x…",
        ),
        sa.Column("source_id", sa.String(), nullable=False, comment="The service's id for it."),
        sa.Column("url", sa.Text(), nullable=True, comment="Where it can be read."),
        sa.Column("author", sa.String(), nullable=True, comment="Who published it, as the service names them."),
        sa.Column("text", sa.Text(), nullable=False, comment="Its text, whitespace normalised."),
        _ts("published_at", "When the service says it was published (else when it was ingested).", nullable=False),
        _ts("ingested_at", "When it was stored.", nullable=False),
        sa.Column(
            "content_hash",
            sa.String(length=64),
            nullable=False,
            comment="sha256 of the normalised text: exact duplicates.",
        ),
        sa.Column(
            "simhash", sa.String(length=16), nullable=False, comment="64-bit simhash of the text, hex: near duplicates."
        ),
        *(
            sa.Column(
                f"simhash_b{n}",
                sa.Integer(),
                nullable=False,
                comment=f"Band {n} of the simhash (near-duplicate index).",
            )
            for n in range(_BANDS)
        ),
        sa.Column("language", sa.String(), nullable=True, comment="ISO 639-1 code when the service gives one."),
        sa.Column("raw", sa.JSON(), nullable=True, comment="The rest of what the service said (metadata)."),
        sa.ForeignKeyConstraint(["stream_id"], ["osint_stream.id"], ondelete="SET NULL"),
        _workspace_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "source", "source_id", name="uq_osint_signal_source"),
    )
    with op.batch_alter_table("osint_signal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_osint_signal_stream_id"), ["stream_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_osint_signal_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index("ix_osint_signal_workspace_published", ["workspace_id", "published_at"], unique=False)
        batch_op.create_index("ix_osint_signal_workspace_hash", ["workspace_id", "content_hash"], unique=False)
        for band in range(_BANDS):
            batch_op.create_index(f"ix_osint_signal_band{band}", ["workspace_id", f"simhash_b{band}"], unique=False)

    op.create_table(
        "osint_alert",
        _id(),
        _workspace(),
        sa.Column("name", sa.String(), nullable=False, comment="Unique in the workspace."),
        sa.Column("workflow_id", sa.String(), nullable=False, comment="The workflow a matching signal starts."),
        sa.Column("stream_id", sa.String(), nullable=True, comment="Only signals of this stream (NULL: any)."),
        sa.Column(
            "keywords",
            sa.JSON(),
            nullable=False,
            comment="Words or phrases, any of which must occur (empty: any text).",
        ),
        sa.Column("sources", sa.JSON(), nullable=False, comment="Sources it applies to (empty: all)."),
        sa.Column("authors", sa.JSON(), nullable=False, comment="Authors it applies to (empty: all)."),
        sa.Column("languages", sa.JSON(), nullable=False, comment="Languages it applies to (empty: all)."),
        sa.Column("is_active", sa.Boolean(), nullable=False, comment="Inactive rules start nothing."),
        _count("fired_count", "Runs it started."),
        _ts("last_fired_at", "When it last started a run."),
        sa.Column("created_by", sa.String(), nullable=True, comment="The user who made it."),
        _ts("created_at", "When it was made.", nullable=False),
        sa.ForeignKeyConstraint(["stream_id"], ["osint_stream.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        _workspace_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_osint_alert_name"),
    )
    with op.batch_alter_table("osint_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_osint_alert_workflow_id"), ["workflow_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_osint_alert_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "osint_digest",
        _id(),
        _workspace(),
        sa.Column("name", sa.String(), nullable=False, comment="Unique in the workspace."),
        sa.Column("cron", sa.String(), nullable=False, comment="When it is sent (5-field cron)."),
        sa.Column("timezone", sa.String(), nullable=False, comment="IANA zone the cron reads in."),
        sa.Column("query", sa.JSON(), nullable=False, comment="The digest's filters and window (DigestQuery)."),
        sa.Column(
            "workflow_id", sa.String(), nullable=False, comment="The workflow started with the digest as its input."
        ),
        _ts("next_run_at", "The next slot."),
        _ts("last_run_at", "The last slot sent."),
        _count("sent_count", "Digests sent."),
        sa.Column("created_by", sa.String(), nullable=True, comment="The user who made it."),
        _ts("created_at", "When it was made.", nullable=False),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="CASCADE"),
        _workspace_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_osint_digest_name"),
    )
    with op.batch_alter_table("osint_digest", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_osint_digest_next_run_at"), ["next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_osint_digest_workflow_id"), ["workflow_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_osint_digest_workspace_id"), ["workspace_id"], unique=False)


def downgrade() -> None:
    op.drop_table("osint_digest")
    op.drop_table("osint_alert")
    op.drop_table("osint_signal")
    op.drop_table("osint_stream")
