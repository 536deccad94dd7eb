"""Tables of OSINT: stream subscriptions, the signals they bring in, alert rules and scheduled digests.

Declared with SQLAlchemy Core on the one metadata of :mod:`synthral.store.tables`, which
imports this module; times are timezone-aware UTC. Every row belongs to one workspace.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from synthral.store.tables import UTCDateTime, metadata, new_id

__all__ = ["OSINT_ALERT", "OSINT_DIGEST", "OSINT_SIGNAL", "OSINT_STREAM", "SIMHASH_BANDS"]


def _id() -> Column[str]:
    return Column("id", String, primary_key=True, default=new_id)


def _workspace() -> Column[str]:
    return Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        comment="The workspace it belongs to.",
    )


def _ts(name: str, comment: str, *, nullable: bool = True, index: bool = False) -> Column[Any]:
    return Column(name, UTCDateTime(), nullable=nullable, comment=comment, index=index)


def _count(name: str, comment: str) -> Column[int]:
    return Column(name, Integer, nullable=False, default=0, comment=comment)


SIMHASH_BANDS: Final = 9
"""Bands of the 64-bit simhash kept as columns (7 bits each, the last 8): fingerprints at most 8 bits
apart share at least one band, so the near-duplicate candidates are found through an index."""


def _bands() -> list[Column[int]]:
    return [
        Column(f"simhash_b{n}", Integer, nullable=False, comment=f"Band {n} of the simhash (near-duplicate index).")
        for n in range(SIMHASH_BANDS)
    ]


OSINT_STREAM: Final = Table(
    "osint_stream",
    metadata,
    _id(),
    _workspace(),
    Column("name", String, nullable=False, comment="Unique in the workspace."),
    Column("capability", String, nullable=False, comment="The source trigger polled, 'plugin/trigger'."),
    Column("config", JSON, nullable=False, comment="The trigger's config."),
    Column("secrets", JSON, nullable=False, comment="Names of the workspace credentials the trigger is given."),
    Column("filters", JSON, nullable=False, comment="Noise filters applied at ingest (NoiseFilter)."),
    Column("interval_seconds", Float, nullable=False, comment="Seconds between polls of a live stream."),
    Column("is_active", Boolean, nullable=False, default=True, comment="Inactive streams are not polled."),
    Column("state", JSON, nullable=True, comment="The cursor the last poll returned; NULL before the first."),
    _ts("backfill_since", "History from this moment is fetched before the live stream (NULL: none)."),
    _ts("next_poll_at", "When the stream is polled next.", index=True),
    Column("claimed_by", String, nullable=True, comment="The scheduler polling it now; NULL when none is."),
    _ts("claimed_until", "The claim is void after this; another scheduler may poll."),
    _ts("last_polled_at", "When the last poll committed."),
    Column("last_error", Text, nullable=True, comment="Why the last poll failed; NULL after a success."),
    _count("polls", "Polls committed."),
    _count("signals", "Signals kept."),
    _count("duplicates", "Signals dropped as exact or near duplicates."),
    _count("filtered", "Signals dropped as noise."),
    Column("created_by", String, nullable=True, comment="The user who subscribed."),
    _ts("created_at", "When it was made.", nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_osint_stream_name"),
)

OSINT_SIGNAL: Final = Table(
    "osint_signal",
    metadata,
    _id(),
    _workspace(),
    Column(
        "stream_id",
        String,
        ForeignKey("osint_stream.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
        comment="The stream it came from.",
    ),
    Column("source", String, nullable=False, comment="The service: news, mastodon, reddit, bluesky, telegram, x…"),
    Column("source_id", String, nullable=False, comment="The service's id for it."),
    Column("url", Text, nullable=True, comment="Where it can be read."),
    Column("author", String, nullable=True, comment="Who published it, as the service names them."),
    Column("text", Text, nullable=False, comment="Its text, whitespace normalised."),
    _ts("published_at", "When the service says it was published (else when it was ingested).", nullable=False),
    _ts("ingested_at", "When it was stored.", nullable=False),
    Column("content_hash", String(64), nullable=False, comment="sha256 of the normalised text: exact duplicates."),
    Column("simhash", String(16), nullable=False, comment="64-bit simhash of the text, hex: near duplicates."),
    *_bands(),
    Column("language", String, nullable=True, comment="ISO 639-1 code when the service gives one."),
    Column("raw", JSON, nullable=True, comment="The rest of what the service said (metadata)."),
    UniqueConstraint("workspace_id", "source", "source_id", name="uq_osint_signal_source"),
    Index("ix_osint_signal_workspace_published", "workspace_id", "published_at"),
    Index("ix_osint_signal_workspace_hash", "workspace_id", "content_hash"),
    *(Index(f"ix_osint_signal_band{n}", "workspace_id", f"simhash_b{n}") for n in range(SIMHASH_BANDS)),
)

OSINT_ALERT: Final = Table(
    "osint_alert",
    metadata,
    _id(),
    _workspace(),
    Column("name", String, nullable=False, comment="Unique in the workspace."),
    Column(
        "workflow_id",
        String,
        ForeignKey("workflow.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        comment="The workflow a matching signal starts.",
    ),
    Column(
        "stream_id",
        String,
        ForeignKey("osint_stream.id", ondelete="CASCADE"),
        nullable=True,
        comment="Only signals of this stream (NULL: any).",
    ),
    Column("keywords", JSON, nullable=False, comment="Words or phrases, any of which must occur (empty: any text)."),
    Column("sources", JSON, nullable=False, comment="Sources it applies to (empty: all)."),
    Column("authors", JSON, nullable=False, comment="Authors it applies to (empty: all)."),
    Column("languages", JSON, nullable=False, comment="Languages it applies to (empty: all)."),
    Column("is_active", Boolean, nullable=False, default=True, comment="Inactive rules start nothing."),
    _count("fired_count", "Runs it started."),
    _ts("last_fired_at", "When it last started a run."),
    Column("created_by", String, nullable=True, comment="The user who made it."),
    _ts("created_at", "When it was made.", nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_osint_alert_name"),
)

OSINT_DIGEST: Final = Table(
    "osint_digest",
    metadata,
    _id(),
    _workspace(),
    Column("name", String, nullable=False, comment="Unique in the workspace."),
    Column("cron", String, nullable=False, comment="When it is sent (5-field cron)."),
    Column("timezone", String, nullable=False, comment="IANA zone the cron reads in."),
    Column("query", JSON, nullable=False, comment="The digest's filters and window (DigestQuery)."),
    Column(
        "workflow_id",
        String,
        ForeignKey("workflow.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        comment="The workflow started with the digest as its input.",
    ),
    _ts("next_run_at", "The next slot.", index=True),
    _ts("last_run_at", "The last slot sent."),
    _count("sent_count", "Digests sent."),
    Column("created_by", String, nullable=True, comment="The user who made it."),
    _ts("created_at", "When it was made.", nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_osint_digest_name"),
)
