"""The audit log's table: one row per security-relevant act, chained by hashes, never changed.

Declared with SQLAlchemy Core on the one metadata of :mod:`synthral.store.tables`, which
imports this module. The migration adds triggers on both backends that refuse UPDATE and
DELETE, so the log is append-only below the application too.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table

from synthral.store.tables import UTCDateTime, metadata

__all__ = ["AUDIT_EVENT", "SQLITE_APPEND_ONLY"]

AUDIT_EVENT = Table(
    "audit_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, comment="Position in the chain (1, 2, ...)."),
    Column("at", UTCDateTime(), nullable=False, comment="When the act happened (UTC)."),
    Column("workspace_id", String, nullable=True, comment="The workspace it concerns; NULL for server-wide acts."),
    Column("actor_kind", String(16), nullable=False, comment="user|api_key|system|anonymous"),
    Column("actor_id", String, nullable=True, comment="The user's id (also for an API key's acts); NULL if unknown."),
    Column("action", String(64), nullable=False, comment="What happened, e.g. auth.login, credential.write."),
    Column("outcome", String(16), nullable=False, comment="success|failure"),
    Column("target_type", String(32), nullable=True, comment="The kind of object acted on: user, credential..."),
    Column("target_id", String, nullable=True, comment="Its id or name."),
    Column("ip", String(64), nullable=True, comment="The client's address, when the act came over HTTP."),
    Column("details", JSON, nullable=False, comment="Facts about the act; never a secret value."),
    Column("prev_hash", String(64), nullable=False, comment="The previous row's hash; 64 zeros for the first."),
    Column("hash", String(64), nullable=False, unique=True, comment="sha256 of prev_hash and this row's fields."),
    Index("ix_audit_event_workspace_id", "workspace_id", "id"),
    Index("ix_audit_event_action", "action"),
)

SQLITE_APPEND_ONLY: tuple[str, ...] = tuple(
    f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    for verb in ("UPDATE", "DELETE")
)
"""The triggers migration 0012 makes on SQLite, for a new file made from the models (the tests hold them equal)."""
